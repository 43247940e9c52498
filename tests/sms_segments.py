"""How many SMS segments a text costs: GSM-7 where every character is in the GSM 03.38
alphabet (160 characters in one segment, 153 a segment when split; the extension characters
count twice), UCS-2 otherwise (70 in one, 67 a segment when split). Turkish ş, ğ and ı are not
in GSM-7 (without the national language tables few providers use): a Turkish SMS is UCS-2."""

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def length(text: str) -> int:
    """In the encoding's own units: septets for GSM-7, UTF-16 code units for UCS-2."""
    if is_gsm7(text):
        return sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    single, part = (160, 153) if is_gsm7(text) else (70, 67)
    units = length(text)
    return 1 if units <= single else -(-units // part)
