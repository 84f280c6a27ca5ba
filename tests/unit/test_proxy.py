"""Which proxy a network sink uses: the option, the environment, NO_PROXY, loopback."""

from __future__ import annotations

import pytest

from tapelog.sinks._proxy import Proxy, parse_proxy, proxy_for


ENV = {"HTTPS_PROXY": "http://secure-proxy:3128", "http_proxy": "http://plain-proxy:8080"}


class TestProxyFor:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("https://logs.example.com/in", Proxy("secure-proxy", 3128)),
            ("http://logs.example.com/in", Proxy("plain-proxy", 8080)),
        ],
    )
    def test_the_environment_by_scheme(self, url: str, expected: Proxy) -> None:
        """HTTPS_PROXY for https:// receivers, HTTP_PROXY for http:// ones."""
        assert expected == proxy_for(url, None, ENV)

    @pytest.mark.parametrize(
        "url",
        [
            "https://localhost:9/in",
            "https://127.0.0.1/in",
            "https://127.8.9.10/in",
            "https://[::1]:4318/v1/logs",
            "https://api.localhost/in",
        ],
    )
    def test_loopback_is_reached_directly(self, url: str) -> None:
        """A receiver on this machine never goes through the environment's proxy."""
        assert proxy_for(url, None, ENV) is None

    @pytest.mark.parametrize(
        ("no_proxy", "url", "direct"),
        [
            ("*", "https://logs.example.com/in", True),
            ("logs.example.com", "https://logs.example.com/in", True),
            ("example.com", "https://logs.example.com/in", True),
            (".example.com", "https://logs.example.com/in", True),
            ("*.example.com", "https://logs.example.com/in", True),
            ("other.com, example.com", "https://logs.example.com/in", True),
            ("ample.com", "https://logs.example.com/in", False),
            ("logs.example.com:8443", "https://logs.example.com:8443/in", True),
            ("logs.example.com:8443", "https://logs.example.com/in", False),
            ("10.0.0.5", "https://10.0.0.5/in", True),
            ("", "https://logs.example.com/in", False),
        ],
    )
    def test_no_proxy(self, no_proxy: str, url: str, *, direct: bool) -> None:
        """NO_PROXY names hosts, domain suffixes, host:port pairs, or * for all."""
        found = proxy_for(url, None, {**ENV, "NO_PROXY": no_proxy})

        assert (found is None) == direct

    def test_the_option_wins(self) -> None:
        """A configured proxy applies even to loopback; "none" ignores the environment."""
        assert Proxy("p", 1) == proxy_for("https://127.0.0.1/in", "http://p:1", ENV)
        assert proxy_for("https://logs.example.com/in", "none", ENV) is None

    def test_no_environment_no_proxy(self) -> None:
        """Without the variables, connections are direct."""
        assert proxy_for("https://logs.example.com/in", None, {}) is None


class TestParseProxy:
    def test_credentials_become_basic_authorization(self) -> None:
        """user:password (percent-decoded) is sent as Proxy-Authorization, never shown."""
        proxy = parse_proxy("http://logs:p%40ss@proxy:3128")

        assert "Basic bG9nczpwQHNz" == proxy.authorization  # base64 of "logs:p@ss"
        assert "p@ss" not in repr(proxy)

    def test_a_bare_host_and_port(self) -> None:
        """curl accepts "proxy:3128" without a scheme; so does tapelog."""
        assert Proxy("proxy", 3128) == parse_proxy("proxy:3128")

    @pytest.mark.parametrize("url", ["https://proxy:3128", "socks5://proxy:1080", "http://:80"])
    def test_what_is_refused(self, url: str) -> None:
        """Only http:// proxies with a host: the error names the URL."""
        with pytest.raises(ValueError, match="proxy URL"):
            parse_proxy(url)
