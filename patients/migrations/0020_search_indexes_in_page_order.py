"""Patient search pages read a bounded part of the indexes (patients.selectors.NameSearch):
the last and first name search indexes of migration 0019 go on, after UPPER(col::text)
text_pattern_ops, with the page's order (LOWER(last_name), LOWER(first_name), id), so that
the patients sharing one value of the field are read in that order and only the page's
first rows of each ("santos" at 1,000,000 patients: 26 index entries instead of 50,000).
The email index stays as it is (emails hardly share a value). Each new index is built under
a temporary name, then the old one dropped and the new one given its name."""

from django.db import migrations

from treatments.db import PostgresOnlyRunSQL

COLUMNS = ("last_name", "first_name")
CARRIED = "INCLUDE (last_name, first_name, email)"


def replace(column: str, key: str, include: str) -> list[str]:
    return [
        f"CREATE INDEX patient_{column}_search_new ON patients_patient ({key}) {include}",
        f"DROP INDEX patient_{column}_search",
        f"ALTER INDEX patient_{column}_search_new RENAME TO patient_{column}_search",
    ]


class Migration(migrations.Migration):
    dependencies = [("patients", "0019_search_indexes_for_index_only_pages")]

    operations = [
        PostgresOnlyRunSQL(
            sql=[
                statement
                for c in COLUMNS
                for statement in replace(
                    c,
                    f"UPPER({c}::text) text_pattern_ops, LOWER(last_name::text), "
                    "LOWER(first_name::text), id",
                    CARRIED,
                )
            ],
            reverse_sql=[
                statement
                for c in COLUMNS
                for statement in replace(
                    c,
                    f"UPPER({c}::text) text_pattern_ops",
                    "INCLUDE (id, last_name, first_name, email)",
                )
            ],
        ),
    ]
