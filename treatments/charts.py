"""Server-rendered progress chart (SVG, no JavaScript): density and rating over follow-ups."""

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 600, 220, 40


@dataclass
class Series:
    label: str
    points: str  # SVG polyline points
    dots: list[tuple[float, float, str]]  # x, y, label


def progress_chart(follow_ups) -> dict | None:
    """Hair density (left scale) and the patient's rating (1–10, right scale) by date."""
    rows = list(follow_ups)
    if not rows:
        return None
    days = [f.due_date for f in rows]
    first, last = min(days), max(days)
    span = max((last - first).days, 1)
    densities = [float(f.hair_density_per_cm2) for f in rows if f.hair_density_per_cm2 is not None]
    top = max(densities + [1.0]) * 1.15

    def x(day):
        return PAD + (WIDTH - 2 * PAD) * (day - first).days / span

    def y(value, scale):
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / scale

    def series(label, pick, scale):
        dots = [
            (round(x(f.due_date), 1), round(y(float(v), scale), 1), f"{v} on {f.due_date:%d %b %Y}")
            for f in rows
            if (v := pick(f)) is not None
        ]
        return Series(label, " ".join(f"{a},{b}" for a, b, _ in dots), dots)

    return {
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "density": series("Hair density (hairs/cm²)", lambda f: f.hair_density_per_cm2, top),
        "rating": series("Patient's rating (1–10)", lambda f: f.patient_rating, 10),
        "first": first,
        "last": last,
        "top": round(top),
    }
