# Generation strategies for the API's own string formats (services/api/validation.ts),
# loaded by schemathesis through SCHEMATHESIS_HOOKS. Without them the fuzzer draws
# arbitrary text for "ip-or-cidr" or "url-path", nearly all of it refused with 400,
# and the handlers behind the validation are barely reached.
import schemathesis
from hypothesis import Phase, settings
from hypothesis import strategies as st

# Hypothesis' targeting phase (schemathesis steers it toward accepted inputs) crashed
# inside Hypothesis itself (IndexError in its optimiser, hypothesis 6.170) in one
# run of four: a tool failure, not a finding. Random generation and shrinking stay.
settings.register_profile("logwarden", phases=[p for p in Phase if p not in (Phase.target, Phase.explain)])
settings.load_profile("logwarden")

_v4 = st.ip_addresses(v=4).map(str)
_v6 = st.ip_addresses(v=6).map(str)
_ip = st.one_of(_v4, _v6)
_cidr = st.one_of(
    st.tuples(_v4, st.integers(0, 32)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.tuples(_v6, st.integers(0, 128)).map(lambda t: f"{t[0]}/{t[1]}"),
)
_segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="?#/"),
    min_size=0,
    max_size=12,
)
_path = st.lists(_segment, min_size=0, max_size=4).map(lambda parts: "/" + "/".join(parts))

schemathesis.openapi.format("ip", _ip)
schemathesis.openapi.format("ip-or-cidr", st.one_of(_ip, _cidr))
schemathesis.openapi.format("url-path", _path)
