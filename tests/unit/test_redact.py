"""Redaction: sensitive keys in any spelling, and secrets inside free text."""

from __future__ import annotations

import re

import pytest

from tapelog.exceptions import ConfigError
from tapelog.processors import DEFAULT_SENSITIVE_KEYS, Redactor


@pytest.fixture(name="redactor")
def _redactor() -> Redactor:
    return Redactor()


class TestIsSensitive:
    @pytest.mark.parametrize(
        "key",
        [
            "apiKey",
            "API-Key",
            "x_api_key",
            "X-Api-Key",
            "api.key",
            "APIKey",
            "API_KEY",
            "apikey",
            "password",
            "Password",
            "user_password",
            "passwords",
            "DB_PASSWD",
            "pwd",
            "passphrase",
            "secret",
            "client_secret",
            "clientSecret",
            "access_token",
            "refreshToken",
            "auth_token",
            "authToken",
            "Authorization",
            "proxy-authorization",
            "cookie",
            "Set-Cookie",
            "session_token",
            "private_key",
            "privateKey",
            "aws_access_key_id",
            "accesskey",
            "accesstoken",
            "secret_key",
            "credentials",
            "credential",
            "credit_card",
            "creditCardNumber",
            "card_number",
            "cvv",
            "SSN",
            "user2_password",
        ],
    )
    def test_default_keys_in_every_spelling(self, redactor: Redactor, key: str) -> None:
        """Built-in terms match whatever the case, separators or digits around them."""
        assert redactor.is_sensitive(key)

    @pytest.mark.parametrize(
        "key",
        [
            "user",
            "username",
            "key",
            "keyboard",
            "monkey",
            "api",
            "api_version",
            "session_id",
            "tokenizer",
            "secretary",
            "passage",
            "card",
            "author",
            "order_id",
            "",
        ],
    )
    def test_ordinary_keys(self, redactor: Redactor, key: str) -> None:
        """Keys that merely contain the letters of a term, not its words, are not sensitive."""
        assert not redactor.is_sensitive(key)

    @pytest.mark.parametrize(
        "key", ["session_id", "sessionId", "SessionID", "X-Session-Id", "session.id", "sessionid"]
    )
    def test_user_keys_match_the_same_way(self, key: str) -> None:
        """A key added in config matches in every spelling, like the built-in ones."""
        assert Redactor(keys=["session_id"]).is_sensitive(key)

    def test_user_keys_add_to_the_defaults(self) -> None:
        """Adding keys keeps the built-in ones."""
        redactor = Redactor(keys=["pin"])

        assert (True, True) == (redactor.is_sensitive("pin"), redactor.is_sensitive("password"))

    def test_disabled_redactor_finds_nothing_sensitive(self) -> None:
        """With redaction off, no key is sensitive."""
        assert not Redactor(enabled=False).is_sensitive("password")

    def test_results_are_cached(self, redactor: Redactor) -> None:
        """Asking twice gives the same answer (the second from the cache)."""
        first = redactor.is_sensitive("apiKey")

        assert (True, True) == (first, redactor.is_sensitive("apiKey"))

    def test_cache_stays_bounded(self, redactor: Redactor) -> None:
        """Many distinct keys do not grow the cache without bound."""
        for n in range(10_000):
            redactor.is_sensitive(f"field_{n}")

        assert len(redactor._cache) <= 4096

    def test_key_without_words_is_refused(self) -> None:
        """A configured key with no letter or digit is a configuration error naming it."""
        with pytest.raises(ConfigError, match=re.escape("redaction.keys[1]")):
            Redactor(keys=["pin", "--"])

    def test_defaults_are_documented_terms(self) -> None:
        """The defaults include the terms the docs promise."""
        assert {"password", "token", "api key", "authorization", "cookie"} <= set(
            DEFAULT_SENSITIVE_KEYS
        )


class TestRedactText:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "postgres://bob:hunter2@db.example:5432/app",
                "postgres://[REDACTED]@db.example:5432/app",
            ),
            ("redis://:s3cret@cache:6379/0", "redis://[REDACTED]@cache:6379/0"),
            ("amqp://u:p@ss@mq/vhost", "amqp://[REDACTED]@mq/vhost"),
            (
                "connect to https://a:b@h1/x and ftp://c:d@h2 now",
                "connect to https://[REDACTED]@h1/x and ftp://[REDACTED]@h2 now",
            ),
            ("http://user@host/path", "http://user@host/path"),
            ("https://host:8443/x?mail=a@b.c", "https://host:8443/x?mail=a@b.c"),
            ("http://u:p@[::1]:8080/", "http://[REDACTED]@[::1]:8080/"),
        ],
    )
    def test_url_credentials(self, redactor: Redactor, text: str, expected: str) -> None:
        """User and password of a URL go; scheme, host, port and path stay."""
        assert expected == redactor.redact_text(text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("sent Bearer eyJhbGciOi.eyJzdWIi.c2ln", "sent Bearer [REDACTED]"),
            ("bearer abc123", "bearer [REDACTED]"),
            ("BEARER abc123", "BEARER [REDACTED]"),
            ("Basic dXNlcjpwYXNz", "Basic [REDACTED]"),
            ("Basic dXNlcjpwYXNzd29yZA", "Basic [REDACTED]"),
            ("Basic checks passed", "Basic checks passed"),
            ("Authorization: Bearer abc.def", "Authorization: [REDACTED]"),
            ("sent Bearer\tabc123", "sent Bearer\t[REDACTED]"),
            ("Basic\t\tdXNlcjpwYXNz", "Basic\t\t[REDACTED]"),
            ("authorization=Basic dXNlcjpwYXNz;", "authorization=[REDACTED];"),
        ],
    )
    def test_authorization_credentials(self, redactor: Redactor, text: str, expected: str) -> None:
        """Bearer tokens and Basic credentials are replaced; the word "basic" in prose is not."""
        assert expected == redactor.redact_text(text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("login failed password=hunter2", "login failed password=[REDACTED]"),
            ("password = hunter2, user = bob", "password = [REDACTED], user = bob"),
            (
                'body {"password": "hun ter\\"2", "user": "bob"}',
                'body {"password": "[REDACTED]", "user": "bob"}',
            ),
            ("{'api_key': 'k-1', 'n': 2}", "{'api_key': '[REDACTED]', 'n': 2}"),
            ("Login(user='bob', password='pw')", "Login(user='bob', password='[REDACTED]')"),
            ("token: abc def", "token: [REDACTED] def"),
            ("url=https://h/?token=abc&x=1", "url=https://h/?token=[REDACTED]&x=1"),
            ('password="unterminated', 'password="[REDACTED]'),
            ("apiKey=1;sessionToken=2", "apiKey=[REDACTED];sessionToken=[REDACTED]"),
            ("user=bob id=7", "user=bob id=7"),
            ("time: 12:30", "time: 12:30"),
        ],
    )
    def test_sensitive_pairs_in_text(self, redactor: Redactor, text: str, expected: str) -> None:
        """The value of a key=value or "key": "value" pair with a sensitive key is replaced."""
        assert expected == redactor.redact_text(text)

    def test_user_patterns_replace_the_whole_match(self) -> None:
        """Every match of a configured pattern is replaced."""
        redactor = Redactor(patterns=[r"\bsk-[A-Za-z0-9]{20,}\b", r"\d{4}-\d{4}-\d{4}-\d{4}"])

        assert "keys [REDACTED] and [REDACTED]." == redactor.redact_text(
            "keys sk-abcdefghijklmnopqrstuvwx and 4111-1111-1111-1111."
        )

    def test_pattern_matching_empty_text_adds_nothing(self) -> None:
        """A pattern that can match the empty string replaces only what it really matched."""
        redactor = Redactor(patterns=[r"x*"])

        assert "ab[REDACTED]c" == redactor.redact_text("abxxc")

    def test_bad_pattern_is_refused(self) -> None:
        """A pattern that does not compile is a ValueError naming the pattern."""
        with pytest.raises(ValueError, match=re.escape("redaction.patterns[1]")) as info:
            Redactor(patterns=["ok", "(unclosed"])

        assert isinstance(info.value, ConfigError)
        assert "(unclosed" in str(info.value)

    def test_custom_replacement_is_literal(self) -> None:
        """The replacement text is used as it is, backslashes and group syntax included."""
        redactor = Redactor(patterns=["s3cr3t"], replacement=r"<\1 \g<0>>")

        assert r"a <\1 \g<0>> b https://<\1 \g<0>>@h" == redactor.redact_text(
            "a s3cr3t b https://u:p@h"
        )

    @pytest.mark.parametrize(
        "text", ["o-20261123-000042", "BTC-USD", "Bearer", "https://u:p@h", "password=x y"]
    )
    def test_redact_new_agrees_and_remembers(self, redactor: Redactor, text: str) -> None:
        """The cache-miss entry point gives the same text, and the next lookup finds it."""
        expected = Redactor().redact_text(text)

        assert expected == redactor.redact_new(text)
        assert expected == redactor.texts[text]

    def test_clean_text_is_returned_as_is(self, redactor: Redactor) -> None:
        """Text with nothing to redact comes back as the same object."""
        text = "order filled: qty=10 px=43250.10 at https://venue.example/api"

        assert text is redactor.redact_text(text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Zürich 東京 🚀", "Zürich 東京 🚀"),
            ("pässwörd ok, password=geheim→ ünd", "pässwörd ok, password=[REDACTED] ünd"),
        ],
    )
    def test_non_ascii_text(self, redactor: Redactor, text: str, expected: str) -> None:
        """Non-ASCII text is left intact around what is redacted."""
        assert expected == redactor.redact_text(text)

    def test_disabled_redactor_passes_text_through(self) -> None:
        """With redaction off, text comes back unchanged."""
        text = "password=x https://u:p@h Bearer t"

        assert text == Redactor(enabled=False).redact_text(text)

    def test_failure_replaces_the_whole_text(self) -> None:
        """If a pattern fails at run time, the text is withheld rather than leaked."""

        class Exploding:
            def sub(self, repl: object, text: str) -> str:
                raise RuntimeError("boom")

        redactor = Redactor()
        redactor._patterns = (Exploding(),)  # type: ignore[assignment]

        assert "[REDACTED]" == redactor.redact_text("anything")


class TestProperties:
    def test_enabled_and_replacement(self) -> None:
        """The settings are readable."""
        redactor = Redactor(replacement="***", enabled=False)

        assert (False, "***") == (redactor.enabled, redactor.replacement)


class TestTextShapes:
    """The shapes of secrets in prose, markup and escaped JSON (docs/redaction.md)."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("bad token S3CR3T", "bad token [REDACTED]"),
            ("the password is S3CR3T", "the password is [REDACTED]"),
            ("login for password S3CR3T failed", "login for password [REDACTED] failed"),
            ("the API key AKIA42 was revoked", "the API key [REDACTED] was revoked"),
            ('the password is "two words" here', 'the password is "[REDACTED]" here'),
            ('raise ValueError("bad token S3CR3T")', 'raise ValueError("bad token [REDACTED]")'),
            ("svc.password S3CR3T", "svc.password [REDACTED]"),
        ],
    )
    def test_prose(self, redactor: Redactor, text: str, expected: str) -> None:
        """The word after a sensitive word (and an optional "is") is replaced."""
        assert expected == redactor.redact_text(text)

    @pytest.mark.parametrize(
        "text",
        [
            "token expired",
            "password reset requested for bob",
            "the token is invalid.",
            "bad token",
            "the token. Next steps",
            "tokenizer loaded 3 models",
            "password = [REDACTED]",
        ],
    )
    def test_prose_leaves_plain_words(self, redactor: Redactor, text: str) -> None:
        """A plain lowercase word after a sensitive word is prose, not a secret."""
        assert text == redactor.redact_text(text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                '{\\"password\\": \\"S3CR3T\\", \\"u\\": 1}',
                '{\\"password\\": \\"[REDACTED]\\", \\"u\\": 1}',
            ),
            ('{\\\\"token\\\\": \\\\"S3CR3T\\\\"}', '{\\\\"token\\\\": \\\\"[REDACTED]\\\\"}'),
        ],
    )
    def test_json_inside_a_string(self, redactor: Redactor, text: str, expected: str) -> None:
        """JSON escaped into a string (once, or twice as repr() doubles it) is redacted."""
        assert expected == redactor.redact_text(text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "<password>S3CR3T</password> <user>bob</user>",
                "<password>[REDACTED]</password> <user>bob</user>",
            ),
            ('<ns:apiKey id="1">S3CR3T</ns:apiKey>', '<ns:apiKey id="1">[REDACTED]</ns:apiKey>'),
            ("<token><![CDATA[S3<CR3T]]></token>", "<token>[REDACTED]</token>"),
            ("<login>ok</login>", "<login>ok</login>"),
        ],
    )
    def test_xml_like_elements(self, redactor: Redactor, text: str, expected: str) -> None:
        """The content of an element named like a sensitive key is replaced."""
        assert expected == redactor.redact_text(text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "[('Authorization', 'Bearer abc'), ('Accept', '*/*')]",
                "[('Authorization', '[REDACTED]'), ('Accept', '*/*')]",
            ),
            ("[(b'x-api-key', b'K3Y')]", "[(b'x-api-key', b'[REDACTED]')]"),
            ('["token", "K3Y"]', '["token", "[REDACTED]"]'),
            ("f(a, [1, 2]) ('user', 'bob')", "f(a, [1, 2]) ('user', 'bob')"),
        ],
    )
    def test_pairs_written_as_lists(self, redactor: Redactor, text: str, expected: str) -> None:
        """A two-item list or tuple in text (a repr of header pairs, JSON) is a pair too."""
        assert expected == redactor.redact_text(text)

    def test_keys_of_other_scripts_can_be_added(self) -> None:
        """A configured key in another script matches like an ASCII one."""
        redactor = Redactor(keys=["пароль"])

        assert redactor.is_sensitive("Пароль")
        assert "пароль=[REDACTED]" == redactor.redact_text("пароль=тайна")
