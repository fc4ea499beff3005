"""Shared by the Python peers: reading a NONMEM-style CSV into records (peers stay independent of cartpk)."""


def read_records(path):
    """Header (upper-cased) and rows as dicts; skips blank and '#' lines, a BOM and simple quotes."""
    header, rows = None, []
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = [s.strip().strip('"') for s in line.split(",")]
            if header is None:
                header = [h.upper() for h in fields]
            else:
                rows.append(dict(zip(header, fields)))
    return header, rows


def number(row, key, default=None):
    """A field as float; '.' or empty is missing (default)."""
    v = row.get(key, "")
    return default if v in ("", ".") else float(v)
