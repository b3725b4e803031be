"""Human-readable energies and areas for the CLI tables (3 significant digits)."""


def format_energy(pj: float) -> str:
    """An energy given in pJ, in the largest unit that keeps it >= 1 (J, mJ, uJ, nJ, pJ)."""
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{_sig3(pj / scale)} {unit}"
    return f"{_sig3(pj)} pJ"


def format_area(um2: float) -> str:
    """An area given in um^2, in mm^2 (no exponent below 10^6 mm^2)."""
    mm2 = um2 * 1e-6
    return f"{mm2:,.0f} mm^2" if mm2 >= 100 else f"{_sig3(mm2)} mm^2"


def _sig3(x: float) -> str:
    """Three significant digits, trailing zeros kept (1.00, 12.5, 250), no exponent below 1000."""
    return f"{x:#.3g}".rstrip(".") if abs(x) < 1000 else f"{x:,.0f}"
