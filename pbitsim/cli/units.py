"""Human-readable energies and areas for the CLI tables (3 significant digits)."""


def format_energy(pj: float) -> str:
    """An energy given in pJ, in the largest unit that keeps it >= 1 (J, mJ, uJ, nJ, pJ)."""
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.3g} {unit}"
    return f"{pj:.3g} pJ"


def format_area(um2: float) -> str:
    """An area given in um^2, in mm^2 (no exponent below 10^6 mm^2)."""
    mm2 = um2 * 1e-6
    return f"{mm2:,.0f} mm^2" if mm2 >= 100 else f"{mm2:.3g} mm^2"
