"""One-time codes are found in French and English mails, and lookalikes are not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mail.otp import find_code, find_codes
from mail.parse import parse_message

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mail"


@pytest.mark.parametrize(
    ("subject", "text", "expected"),
    [
        ("Your verification code", "Your verification code is 482913.", "482913"),
        ("", "Use 739201 as your one-time password. It expires in 10 minutes.", "739201"),
        ("Sign in to Acme", "Your security code: 5531", "5531"),
        ("", "Your login code is 482-913", "482913"),
        ("", "Enter this code to continue: 482 913", "482913"),
        ("482913 is your Acme code", "", "482913"),
        ("Code de vérification", "Votre code de vérification est 602118.", "602118"),
        ("", "Code de sécurité : 88412107", "88412107"),
        ("", "Votre code de confirmation : 915 220 (valable 15 minutes)", "915220"),
        ("", "Saisissez le code 3317 pour vous connecter. Il expire dans 5 minutes.", "3317"),
        ("", "Voici votre code à usage unique :\n\n  774 501\n", "774501"),
        ("", "Code d'authentification : A7K29Q", "A7K29Q"),
        ("", "Your OTP is 40192", "40192"),
        ("", "2FA code:\n\n908172\n\nIf you did not request this, ignore this mail.", "908172"),
        ("Votre code de connexion : 551 093", "Bonjour, voici votre code.", "551093"),
        ("", "Votre code\u202f: 482\u202f913", "482913"),
        ("", "Passcode 12-3456 expires at 14:30.", "123456"),
        (
            "Votre code",
            "Votre code : 482913\nFacture n° 2024-118 du 15/11/2026, total 150,00 € TTC.",
            "482913",
        ),
    ],
)
def test_finds_codes(subject: str, text: str, expected: str) -> None:
    assert find_code(subject, text) == expected


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("", "Votre code expire le 15/11/2026."),
        ("", "Verification done on 2026-11-15, code valid."),
        ("", "Your code expires in 2026."),
        ("", "Code valable jusqu'à 14:30 aujourd'hui."),
        ("", "Code : appelez le 01 23 45 67 89 pour l'obtenir."),
        ("", "Verification: call +33 6 12 34 56 78."),
        ("", "Security code help line (555) 123-4567."),
        ("", "Montant à régler : 1250 € avant expiration du code."),
        ("", "Your code for the $4500 purchase has been sent."),
        ("", "Code promo valable sur 2 450,00 EUR d'achats."),
        ("", "Facture n° 482913 : votre code client est dans l'espace."),
        ("", "Invoice #771234 - verification pending."),
        ("", "Votre commande 4829133 est confirmée. Code de suivi envoyé."),
        ("", "Order No. 58821 confirmation."),
        ("", "Ref: 77120 — vérification de votre dossier."),
        ("", "Code postal : 75011"),
        ("", "Adresse de confirmation :\n12 rue de la Paix\n75002 Paris"),
        ("", "Merci pour votre commande, elle sera livrée bientôt."),
        ("", "Your verification code is 4820 or 7719, pick one."),
        ("Facture 2024-118", "Votre facture de novembre est disponible."),
        ("", "Use code https://acme.example/verify?code=482913 to continue"),
    ],
)
def test_ignores_lookalikes(subject: str, text: str) -> None:
    assert find_code(subject, text) is None


def test_same_code_in_subject_and_text_is_one_code() -> None:
    candidates = find_codes("482913 is your code", "Your code is 482913.")
    assert {candidate.code for candidate in candidates} == {"482913"}
    assert {candidate.source for candidate in candidates} == {"subject", "text"}
    assert find_code("482913 is your code", "Your code is 482913.") == "482913"


def test_no_context_word_no_code() -> None:
    assert find_codes("", "Le rendez-vous 482913 est noté.") == ()


def test_html_only_mail_gives_its_code() -> None:
    msg = parse_message((FIXTURES / "otp_html_only.eml").read_bytes())
    assert msg.html is not None
    assert find_code(msg.subject, msg.text) == "482913"


def test_long_text_is_cheap() -> None:
    text = "code 1234 verification 99 facture 2024 " * 50_000
    # CPU time, not wall time: on a busy machine the wall clock measures the neighbours.
    started = time.process_time()
    find_codes("", text)
    assert time.process_time() - started < 1
