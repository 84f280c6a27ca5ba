"""Redaction: values under sensitive keys, and secret-shaped text anywhere.

A :class:`Redactor` answers two questions on the worker thread, once per key and once per
string: is this key sensitive (:meth:`Redactor.is_sensitive`), and what does this text
look like with its secrets taken out (:meth:`Redactor.redact_text`). Walking nested values
and calling these two is the job of ``tapelog.processors._normalize``.

Keys are compared as word sequences, so every spelling of a name matches: ``apiKey``,
``API-Key``, ``x_api_key``, ``X-Api-Key`` and ``api.key`` all hold the words
``api key``. Text is scanned only when a cheap substring test says a pattern could match.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from typing import TYPE_CHECKING, Final, final

from tapelog.exceptions import ConfigError


if TYPE_CHECKING:
    from collections.abc import Iterable


__all__ = ["DEFAULT_SENSITIVE_KEYS", "Redactor"]

DEFAULT_SENSITIVE_KEYS: Final[tuple[str, ...]] = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api key",
    "apikey",
    "auth token",
    "access token",
    "refresh token",
    "authorization",
    "cookie",
    "set cookie",
    "session token",
    "private key",
    "access key",
    "secret key",
    "client secret",
    "credential",
    "credit card",
    "card number",
    "cvv",
    "ssn",
)
"""The sensitive terms every :class:`Redactor` starts with; user keys add to them.

Each term is a word sequence. A key is sensitive when its words contain a term's words in
order (a word may also carry a plural ``s``), or when one of its words is the term's words
glued together (``apikey``, ``accesskey``).
"""

# Words are runs of lowercase letters (optionally led by one capital), runs of capitals
# (an acronym ends where a capitalised word begins: "APIKey" is "API" + "Key"), runs of
# digits, or runs of letters of other scripts (lowercased; no case split there).
# Everything else separates words.
_WORD: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+|[^\W\d_A-Za-z]+")

# Results are cached per key string, because the same keys come back in every entry. The
# cache is cleared when full (cheaper than LRU bookkeeping for a set that rarely grows),
# and keys too long to be field names are never stored, so it stays small.
_CACHE_SIZE: Final = 4096
_CACHEABLE_KEY_LENGTH: Final = 256
_CACHEABLE_TEXT_LENGTH: Final = 64  # longer texts are rarely repeated

# `://user:password@` (the password may be empty, the user too); the scheme before it is
# kept, so the pattern starts at the literal "://", which the regex engine finds fast.
# RFC 3986 forbids an unencoded "/", "?" or "#" in userinfo, so the credentials end at the
# last "@" before any of them; a raw "@" in the user or the password is tolerated.
_URL_CREDENTIALS: Final = re.compile(r"://[^\s/?#:]*:[^\s/?#]*@")

# `Bearer <token>` and `Basic <base64>` (RFC 6750 token68 characters).
_AUTHORIZATION: Final = re.compile(
    r"\b(?P<scheme>[Bb]earer|BEARER|[Bb]asic|BASIC)(?P<space>[ \t]+)"
    r"(?P<credentials>[A-Za-z0-9\-._~+/]+=*)"
)

# The key half of `key=value`, `key: value`, `"key": value` and `'key': value` in free text.
# Only the key and separator are consumed, so a non-sensitive pair does not hide a
# sensitive one inside its value (`url=https://h/?password=x`).
# A key in double quotes may have its quotes escaped, once or more (`{\"password\": \"x\"}`:
# JSON held in a JSON string or a Python literal; its repr doubles the backslashes).
_PAIR_KEY: Final = re.compile(
    r"""(?:\\{0,7}"(?P<double>[^"\\\s]{1,128})\\{0,7}"|'(?P<single>[^'\\\s]{1,128})'"""
    r"""|(?<![\w.\-])(?P<bare>[^\W\d][\w.\-]{0,127}))"""
    r"""[ \t]*[=:][ \t]*"""
)

# The value half, matched where the key half ended: a quoted string (its closing quote
# may be missing), an authorization scheme with its credentials, or a bare word.
_PAIR_VALUE: Final = re.compile(
    r"""(?P<escape>\\{1,7})"[^"\n]*?(?P=escape)"|\\{1,7}"[^"\n]*"""
    r"""|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?"""
    r"""|(?i:bearer|basic|digest|token)[ \t]+[^\s,;&]+"""
    r"""|[^\s,;&"'<>()\[\]{}]+"""
)


# Prose: a sensitive word followed, on the same line, by an optional "is"/"was"/"are"/
# "were" and a value ("bad token S", "the password is S", "for password S"). Only the
# words holding a hint are looked at (found with str.find), so prose without one costs a
# few substring tests. This matches what follows such a word: the gap and the value.
_PROSE_VALUE: Final = re.compile(
    r"""[ \t]+(?:(?:is|was|are|were)[ \t]+)?"""
    r"""(?P<value>"[^"\n]{1,256}"|'[^'\n]{1,256}'|[^\s"'`<>()\[\]{},;=:][^\s"'`<>()\[\]{},;=]*)"""
)
# The characters of a word in prose (a dotted name such as "svc.password" is one word).
_PROSE_WORD: Final = re.compile(r"[\w.\-]*")
_PROSE_GAP: Final = re.compile(r"[ \t]+")
# A value left alone after a sensitive word: a plain lowercase word, as in "token expired"
# or "password reset" (a secret of lowercase letters only is the price of this; see the
# docs), with the punctuation that may end a sentence.
_PLAIN_WORD: Final = re.compile(r"[a-z]{1,15}[.!?]?")
# XML-like elements: `<password>S</password>`, `<ns:token a="1">S</ns:token>`, CDATA too.
_ELEMENT: Final = re.compile(
    r"<(?P<tag>[A-Za-z_][\w.\-:]{0,127})(?:[ \t][^<>]*)?>"
    r"(?P<value>(?:<!\[CDATA\[.*?\]\]>|[^<])*)</(?P=tag)[ \t]*>",
    re.DOTALL,
)


# A pair written as a two-item list or tuple: the repr of a header pair, or JSON
# (`('Authorization', 'Bearer x')`, `[b'x-api-key', b'k']`, `["token", "k"]`).
_LISTED_PAIR: Final = re.compile(
    r"""[(\[][ \t]*b?(?P<kq>['"])(?P<key>[^'"\\\n]{1,128})(?P=kq)[ \t]*,[ \t]*"""
    r"""b?(?P<vq>['"])(?P<value>(?:[^'"\\\n]|\\.)*)(?P=vq)[ \t]*[)\]]"""
)


def _words(key: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _WORD.findall(key))


def _hints(terms: list[tuple[str, ...]]) -> tuple[str, ...]:
    """Return substrings of which every sensitive key, lowercased, contains at least one.

    Any word of a term will do; a few specific ones are best, because a text holding none
    of them skips the `key=value` scan. Start from the one-word terms, then cover the
    remaining terms greedily with their most shared word (``key`` for ``api key``,
    ``access key`` and ``private key``).
    """
    hints = {term[0] for term in terms if len(term) == 1}
    uncovered: list[tuple[str, ...]]
    uncovered = [term for term in terms if not any(h in word for word in term for h in hints)]
    while uncovered:
        counts = Counter(word for term in uncovered for word in set(term))
        best = max(sorted(counts), key=counts.__getitem__)
        hints.add(best)
        uncovered = [term for term in uncovered if best not in term]
    return tuple(sorted(h for h in hints if not any(o in h for o in hints if o != h)))


def _word_start(text: str, at: int) -> int:
    """Where the prose word ending at ``at`` (or holding ``text[at]``) starts."""
    while at > 0:
        char = text[at - 1]
        if not (char.isalnum() or char in "_.-"):
            break
        at -= 1
    return at


def _looks_like_basic_credentials(credentials: str) -> bool:
    """Tell ``Basic dXNlcjpwYXNz`` (base64 of ``user:pass``) from ``Basic authentication``."""
    padded = credentials + "=" * (-len(credentials) % 4)
    try:
        return b":" in base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return False


def _encodable(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (it holds no lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@final
class Redactor:
    """Finds secrets by key name and by shape of text, and replaces them.

    Built once at configure time; used on the worker thread only. Both methods are cheap
    on clean input and never raise.

    Args:
        keys: sensitive key names added to :data:`DEFAULT_SENSITIVE_KEYS`, matched the same
            way (``session_id`` also matches ``sessionId`` and ``X-Session-Id``).
        patterns: Python regular expressions; every match in any string is replaced whole.
        replacement: the text that stands in for a secret.
        enabled: ``False`` turns redaction off: every key is non-sensitive and every text
            comes back unchanged.

    Raises:
        ConfigError: a pattern does not compile, or a key has no letter or digit (a
            ``ValueError``, naming the pattern or key and its position).

    >>> redactor = Redactor(keys=["session_id"])
    >>> redactor.is_sensitive("X-Session-Id"), redactor.is_sensitive("user_id")
    (True, False)
    >>> redactor.redact_text("login password=hunter2 via https://bob:pw@db:5432/app")
    'login password=[REDACTED] via https://[REDACTED]@db:5432/app'
    """

    __slots__ = (
        "_cache",
        "_enabled",
        "_glued",
        "_hints",
        "_multi",
        "_patterns",
        "_replacement",
        "_single",
        "_url_template",
        "plans",
        "texts",
    )

    def __init__(
        self,
        keys: Iterable[str] = (),
        patterns: Iterable[str] = (),
        replacement: str = "[REDACTED]",
        *,
        enabled: bool = True,
    ) -> None:
        terms = [_words(term) for term in DEFAULT_SENSITIVE_KEYS]
        for index, key in enumerate(keys):
            words = _words(key)
            if not words:
                raise ConfigError(
                    f"redaction.keys[{index}]",
                    key,
                    "a key name with a letter or a digit",
                )
            terms.append(words)
        compiled: list[re.Pattern[str]] = []
        for index, pattern in enumerate(patterns):
            try:
                compiled.append(re.compile(pattern))
            except (re.error, OverflowError, RecursionError, ValueError) as exc:
                raise ConfigError(
                    f"redaction.patterns[{index}]",
                    pattern,
                    f"a Python regular expression ({exc})",
                ) from exc
        self._enabled = enabled
        self._replacement = replacement
        # In a re.sub template only the backslash is special.
        self._url_template = "://" + replacement.replace("\\", "\\\\") + "@"
        self._single = frozenset(term[0] for term in terms if len(term) == 1)
        self._multi = tuple(term for term in terms if len(term) > 1)
        self._glued = frozenset("".join(term) for term in self._multi)
        self._patterns = tuple(compiled)
        self._hints = _hints(terms)
        self._cache: dict[str, bool] = {}
        self.texts: dict[str, str] = {}
        """Short texts already redacted, and their result (a bounded cache that
        ``clean_fields`` reads directly, saving a call per field)."""
        self.plans: dict[str, tuple[str, bool]] = {}
        """Per raw field name: its sanitised name and whether it is sensitive (a cache
        that ``clean_fields`` keeps; bounded there)."""

    @property
    def enabled(self) -> bool:
        """Whether redaction is on."""
        return self._enabled

    @property
    def replacement(self) -> str:
        """The text that stands in for a secret."""
        return self._replacement

    def is_sensitive(self, key: str) -> bool:
        """Return whether values under ``key`` must be replaced whole.

        Args:
            key: a field name, in any spelling (``apiKey``, ``X-Api-Key``, ``api.key``).

        Returns:
            ``True`` when the key's words contain a sensitive term; always ``False`` when
            redaction is disabled.
        """
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self._enabled and self._match(_words(key))
        if len(key) <= _CACHEABLE_KEY_LENGTH:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = result
        return result

    def leaves_alone(self, alphabet: str) -> bool:
        """Whether :meth:`redact_text` returns every text made only of ``alphabet`` unchanged.

        Decided from what each rule of ``_redact`` needs before it can change anything,
        so the entry builder can write tapelog's own texts of a known shape (the
        timestamps it formats) without scanning each one: never with a user pattern;
        never when the alphabet holds what a built-in rule starts from (``://``, a space
        or tab, ``</``, a listed pair's ``,`` and bracket); and, when it holds ``:`` or
        ``=``, never when a sensitive hint could be spelled in it (a user key ``t`` or
        ``2026`` could be, so a ``T00:...`` pair would be looked at).

        Args:
            alphabet: the characters such texts are made of.
        """
        if not self._enabled:
            return True
        if self._patterns:
            return False
        chars = set(alphabet)
        if (
            (":" in chars and "/" in chars)
            or " " in chars
            or "\t" in chars
            or ("<" in chars and "/" in chars)
            or ("," in chars and ("(" in chars or "[" in chars))
        ):
            return False
        if ":" in chars or "=" in chars:
            lowered = set(alphabet.lower())
            return not any(set(hint) <= lowered for hint in self._hints)
        return True

    def redact_text(self, text: str) -> str:
        """Return ``text`` with credentials, tokens and pattern matches replaced.

        Replaces the credentials of URLs (``scheme://user:pw@host`` keeps scheme, host,
        port and path), ``Bearer`` and ``Basic`` credentials, the value of any
        ``key=value`` or ``"key": "value"`` pair whose key is sensitive, and every match of
        a user pattern. If anything goes wrong the whole text is replaced: redaction fails
        closed.

        Args:
            text: any string; text without secrets comes back as the same object.

        Returns:
            The redacted text.
        """
        if not self._enabled:
            return text
        # Field values repeat (symbols, venues, statuses): remember short ones' results.
        if len(text) <= _CACHEABLE_TEXT_LENGTH:
            cached = self.texts.get(text)
            if cached is not None:
                return cached
        return self.redact_new(text)

    def redact_new(self, text: str) -> str:
        """:meth:`redact_text` for a text its caller already looked up in :attr:`texts`.

        Remembers the result of a short text. The entry builder calls this on a cache
        miss, which for unique values (order ids, request ids) is every call. A text
        with lone surrogates is not remembered: readers of :attr:`texts` (the entry
        builder, ``clean_fields``) take a hit as clean, and such a text is not (a field
        value escapes them first; a message that held them would leave them raw).
        """
        if not self._enabled:
            return text
        redacted = self._redact(text)
        if len(text) <= _CACHEABLE_TEXT_LENGTH and (text.isascii() or _encodable(text)):
            texts = self.texts
            if len(texts) >= _CACHE_SIZE:
                texts.clear()
            texts[text] = redacted
        return redacted

    def _redact(self, text: str) -> str:
        # Each built-in rule needs a character most values lack (URL credentials and
        # pairs a ":" or "=", an authorization header a space or a tab), so an identifier
        # such as an order id costs four substring tests.
        try:
            colon = ":" in text
            if colon and "://" in text:
                text = _URL_CREDENTIALS.sub(self._url_template, text)
            spaced = " " in text or "\t" in text
            pairs = colon or "=" in text
            element = "</" in text
            listed = "," in text and ("(" in text or "[" in text)
            if (pairs or spaced or element or listed) and self._has_hint(text):
                if pairs:
                    text = self._redact_pairs(text)
                if element:
                    text = _ELEMENT.sub(self._element, text)
                if listed:
                    text = _LISTED_PAIR.sub(self._listed_pair, text)
                if spaced:
                    text = self._redact_prose(text)
            if spaced and ("earer" in text or "asic" in text or "EARER" in text or "ASIC" in text):
                text = _AUTHORIZATION.sub(self._authorization, text)
            for pattern in self._patterns:
                text = pattern.sub(self._pattern_match, text)
        except Exception:  # a user pattern gone wrong must not leak the text
            return self._replacement
        return text

    def _match(self, words: tuple[str, ...]) -> bool:
        single, glued = self._single, self._glued
        for word in words:
            if word in single or word in glued:
                return True
            if word[-1] == "s" and (word[:-1] in single or word[:-1] in glued):
                return True
        count = len(words)
        for term in self._multi:
            size = len(term)
            for start in range(count - size + 1):
                if all(
                    word == part or word == part + "s"
                    for word, part in zip(words[start : start + size], term, strict=True)
                ):
                    return True
        return False

    def _has_hint(self, text: str) -> bool:
        lowered = text.lower()
        for hint in self._hints:  # noqa: SIM110 - any() over a generator costs a third more
            if hint in lowered:
                return True
        return False

    def _redact_pairs(self, text: str) -> str:
        pieces: list[str] = []
        done = 0
        for key_match in _PAIR_KEY.finditer(text):
            if key_match.start() < done:  # inside a value already replaced
                continue
            key = key_match.group("bare") or key_match.group("double") or key_match.group("single")
            if not self.is_sensitive(key):
                continue
            value = _PAIR_VALUE.match(text, key_match.end())
            if value is None:
                continue
            found = value.group()
            if found[0] == "\\":  # JSON inside a string: \"value\" (or \\"value\\")
                quote = found[: found.index('"') + 1]
                closing = quote if len(found) > 2 * len(quote) and found.endswith(quote) else ""
            else:
                quote = found[0] if found[0] in "\"'" else ""
                closing = quote if len(found) > 1 and found[-1] == quote else ""
            pieces.append(text[done : value.start()])
            pieces.append(f"{quote}{self._replacement}{closing}")
            done = value.end()
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def _redact_prose(self, text: str) -> str:
        """Replace the word after a sensitive word in prose, unless it is a plain word."""
        lowered = text.lower()
        if len(lowered) != len(text):  # a character whose lowercase is longer ("İ")
            lowered = "".join(char.lower()[0] for char in text)
        found: dict[int, int] = {}  # value start -> value end
        for hint in self._hints:
            at = lowered.find(hint)
            while at != -1:
                self._prose_value(text, at, found)
                at = lowered.find(hint, at + len(hint))
        if not found:
            return text
        pieces: list[str] = []
        done = 0
        replacement = self._replacement
        for start in sorted(found):
            if start < done:
                continue
            end = found[start]
            value = text[start:end]
            pieces.append(text[done:start])
            pieces.append(
                f"{value[0]}{replacement}{value[0]}" if value[0] in "\"'" else replacement
            )
            done = end
        pieces.append(text[done:])
        return "".join(pieces)

    def _prose_value(self, text: str, at: int, found: dict[int, int]) -> None:
        """Note the span of the value after the word holding ``text[at]``, if it is a secret."""
        start = _word_start(text, at)
        if start > 0 and text[start - 1] in "/\\":  # a path or URL segment ("/token/abc")
            return
        word_match = _PROSE_WORD.match(text, at)
        end = word_match.end() if word_match is not None else at
        while end > start and text[end - 1] in ".-":  # the end of a sentence, a dash
            end -= 1
        word = text[start:end]
        if not word or not word[0].isalpha():
            return
        key_end = end
        if not self.is_sensitive(word):
            # A two-word term: "api key S" (this is the second word), "card number S" (the
            # first: the value follows the next word).
            gap = _PROSE_GAP.match(text, end)
            after = _PROSE_WORD.match(text, gap.end()) if gap is not None else None
            gap_start = start
            while gap_start > 0 and text[gap_start - 1] in " \t":
                gap_start -= 1
            previous = text[_word_start(text, gap_start) : gap_start]
            if gap_start < start and previous and self.is_sensitive(f"{previous} {word}"):
                pass
            elif (
                after is not None
                and after.group()
                and self.is_sensitive(f"{word} {after.group().rstrip('.-')}")
            ):
                key_end = after.start() + len(after.group().rstrip(".-"))
            else:
                return
        match = _PROSE_VALUE.match(text, key_end)
        if match is None:
            return
        value = match.group("value")
        end = match.end("value")
        following = text[end : end + 2]
        if (
            value == self._replacement
            or _PLAIN_WORD.fullmatch(value) is not None
            or (
                following[:1] == "="
                and following[1:] not in ("", "=")
                and not following[1:].isspace()
            )
        ):  # a plain word, or the key of a pair ("token id=7"), not a secret
            return
        found[match.start("value")] = end

    def _listed_pair(self, match: re.Match[str]) -> str:
        if not self.is_sensitive(match.group("key")) or not match.group("value"):
            return match.group()
        whole = match.group()
        start, end = match.span("value")
        offset = match.start()
        return whole[: start - offset] + self._replacement + whole[end - offset :]

    def _element(self, match: re.Match[str]) -> str:
        if not self.is_sensitive(match.group("tag")) or not match.group("value"):
            return match.group()
        whole = match.group()
        start, end = match.span("value")
        offset = match.start()
        return whole[: start - offset] + self._replacement + whole[end - offset :]

    def _authorization(self, match: re.Match[str]) -> str:
        scheme = match.group("scheme")
        if scheme[1] in "aA" and not _looks_like_basic_credentials(match.group("credentials")):
            return match.group()
        return f"{scheme}{match.group('space')}{self._replacement}"

    def _pattern_match(self, match: re.Match[str]) -> str:
        # A pattern that can match the empty string must not sprinkle replacements.
        return self._replacement if match.end() > match.start() else ""
