"""Which code each VAT line gets: the software's code for its rate, the rule's code only
to choose between codes of one rate or for a software that says no rates."""

from __future__ import annotations

from decimal import Decimal

from core.accounting.provider import VatLine
from core.accounting.providers.pennylane import VAT_CODES
from core.services.tax_codes import TaxCode, Unmapped, assign_codes, tax_code_of

PENNYLANE = [tax_code_of(code, {"rate": str(rate)}) for code, (_, rate) in VAT_CODES.items()]


def _lines(*rates: str) -> tuple[VatLine, ...]:
    return tuple(VatLine(Decimal(r), Decimal(100), Decimal(r)) for r in rates)


def test_each_french_rate_gets_its_own_pennylane_code() -> None:
    lines = assign_codes(_lines("20", "5.5", "2.1", "1.05", "0.9", "0"), PENNYLANE, "FR_200")
    assert not isinstance(lines, Unmapped)
    assert [line.tax_rate_code for line in lines] == [
        "FR_200",
        "FR_55",
        "FR_21",
        "FR_1_05",
        "FR_09",
        "exempt",
    ]


def test_a_rate_without_a_code_is_unmapped_whatever_the_rule_says() -> None:
    assert assign_codes(_lines("20", "7"), PENNYLANE, "FR_200") == Unmapped(Decimal(7))


def test_the_rules_code_chooses_between_codes_of_one_rate_and_sales_codes_never_count() -> None:
    codes = [
        TaxCode("INPUT2", Decimal(20)),
        TaxCode("ECINPUT", Decimal(20)),
        TaxCode("OUTPUT10", Decimal(10), purchases=False),
    ]
    (first,) = assign_codes(_lines("20"), codes, "ECINPUT")  # type: ignore[misc]
    (second,) = assign_codes(_lines("20"), codes, None)  # type: ignore[misc]
    assert (first.tax_rate_code, second.tax_rate_code) == ("ECINPUT", "INPUT2")
    assert assign_codes(_lines("10"), codes, None) == Unmapped(Decimal(10))


def test_a_software_that_says_no_rates_keeps_the_rules_code() -> None:
    lines = assign_codes(_lines("20", "5.5"), [TaxCode("FR_200", None)], "FR_200")
    assert not isinstance(lines, Unmapped)
    assert {line.tax_rate_code for line in lines} == {"FR_200"}


def test_rates_are_read_however_the_software_writes_them() -> None:
    assert tax_code_of("INPUT2", {"rate": 20.0}).rate == Decimal(20)
    assert tax_code_of("TAX001", {"rate": 5.5}).rate == Decimal("5.5")
    assert tax_code_of("X", {"rate": "n/a"}).rate is None
    assert tax_code_of("X", {"purchases": False}).purchases is False


def test_a_code_a_person_chose_for_a_rate_wins_for_that_rate_only() -> None:
    codes = [*PENNYLANE, TaxCode("REVERSE", None)]
    lines = assign_codes(_lines("20", "7.0"), codes, "FR_200", {"7": "REVERSE"})
    assert not isinstance(lines, Unmapped)
    assert [line.tax_rate_code for line in lines] == ["FR_200", "REVERSE"]
    # Without the choice, 7 % is still asked about; a choice for another rate changes nothing.
    assert assign_codes(_lines("7"), codes, "FR_200", {"8.5": "REVERSE"}) == Unmapped(Decimal(7))


def test_a_chosen_code_the_software_dropped_is_forgotten() -> None:
    assert assign_codes(_lines("7"), PENNYLANE, None, {"7": "GONE"}) == Unmapped(Decimal(7))
    sales_only = [TaxCode("OUTPUT7", Decimal(7), purchases=False), *PENNYLANE]
    assert assign_codes(_lines("7"), sales_only, None, {"7": "OUTPUT7"}) == Unmapped(Decimal(7))


def test_a_list_without_rates_takes_the_choice_per_rate_and_the_rule_for_the_rest() -> None:
    codes = [TaxCode("TVA", None), TaxCode("TVA-R", None)]
    lines = assign_codes(_lines("20", "5.5"), codes, "TVA", {"5.5": "TVA-R"})
    assert not isinstance(lines, Unmapped)
    assert [line.tax_rate_code for line in lines] == ["TVA", "TVA-R"]
