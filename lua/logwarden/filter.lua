-- logwarden.filter: the security_filter engine at the edge. The semantics are
-- those of schemas/security-filter/README.md, pinned by vectors.json, which
-- services/enforcer/vectors.test.ts runs through a real nginx; the TypeScript
-- engine (shared/security-filter/) runs the same vectors.
--
--   validate(doc, base)  -> true | nil, message, field path
--   compile(doc)         -> compiled rule set (per worker)
--   level_for(c, host, path) -> the applied level or nil
--   evaluate(level, ua_fn, country_fn, ip_fn) -> "block"|"warn"|nil, rule
--
-- Levels: path > domain > property, the most specific alone. Within a level,
-- rules are sorted by id once, so the first matching BLOCK (else WARN) rule
-- is the lowest id whatever the order of filter_rules: the CDN's "UA before
-- Geo before IP" ordering restriction does not exist here. Each level keeps
-- the union of its rules' match values per kind: a request that misses a
-- kind's union skips every rule needing that kind, so a clean request costs
-- one check per kind rather than one per rule.

local cjson = require "cjson.safe"
local bit = require "bit"
local ip = require "logwarden.ip"
local glob = require "logwarden.glob"

local type = type
local pairs = pairs
local ipairs = ipairs
local next = next
local tostring = tostring
local band, bor, bnot = bit.band, bit.bor, bit.bnot
local str_find = string.find
local str_lower = string.lower
local str_upper = string.upper
local str_byte = string.byte
local str_match = string.match
local str_gsub = string.gsub
local sort = table.sort
local encode = cjson.encode
local null = cjson.null

local _M = { _VERSION = '0.1.0' }

local LIMITS = {
    domains = 10000, paths = 10000, rules = 1000, user_agents = 1000,
    user_agents_per_filter = 10000, geo = 300, ips = 100000,
    id = 128, pattern = 1024, path = 1024, host = 253,
}
_M.LIMITS = LIMITS

local COUNTRIES = {}
for cc in ([[AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT
MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK EU]]):gmatch("%u%u") do
    COUNTRIES[cc] = true
end

---------------------------------------------------------------------------
-- Validation: the checks of validateRuleSet (TypeScript), first error only.

local function is_array(t)
    if type(t) ~= "table" then
        return false
    end
    local n = #t
    for k in pairs(t) do
        if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
            return false
        end
    end
    return true
end
_M.is_array = is_array

-- cjson decodes [] and {} alike: an empty table is both.
local function is_object(t)
    return type(t) == "table" and (next(t) == nil or not is_array(t))
end
_M.is_object = is_object

local function at(path, key)
    return path == "" and key or path .. "." .. key
end
local function item(path, i)
    return path .. "[" .. (i - 1) .. "]"
end
local function entry(path, key)
    return path .. "[" .. (encode(key) or '""') .. "]"
end
_M.at, _M.item, _M.entry = at, item, entry

-- Counts UTF-8 code points (bytes that are not continuation bytes).
local function chars(s)
    local _, cont = str_gsub(s, "[\128-\191]", "")
    return #s - cont
end
_M.chars = chars

local function keys_in(t, allowed, path)
    for k in pairs(t) do
        if type(k) ~= "string" or not allowed[k] then
            return nil, "unknown key", at(path, tostring(k))
        end
    end
    return true
end
_M.keys_in = keys_in

local function set_of(list)
    local s = {}
    for _, v in ipairs(list) do
        s[v] = true
    end
    return s
end

local ROOT_KEYS = set_of { "version", "property", "domains", "paths" }
local FILTER_KEYS = set_of { "enabled", "filter_rules", "response_handling" }
local RULE_KEYS = set_of { "id", "match", "except", "response_handling" }
local CRITERIA_KEYS = set_of { "user_agents", "geo", "ips" }
local HANDLING_KEYS = set_of { "on_filtered", "block_http_status" }
local PATH_KEYS = set_of { "host", "path", "security_filter" }
local GEO_KEYS = set_of { "COUNTRY_CODE" }

local function array(x, path, min, max)
    if not is_array(x) then
        return nil, "must be an array", path
    end
    if #x < min then
        return nil, "must not be empty", path
    end
    if #x > max then
        return nil, "must have at most " .. max .. " items", path
    end
    return true
end

-- A rule's `ips` entry: an address or a CIDR block with the host bits clear.
-- Returns { v4 = true, n, plen } | { v4 = false, groups, plen } or nil, reason.
local function parse_entry(s)
    if type(s) ~= "string" or #s > 64 then
        return nil, "must be a string"
    end
    local addr, plen = str_match(s, "^([^/]+)/(%d+)$")
    if not addr then
        addr = s
    elseif #plen > 3 or (#plen > 1 and str_byte(plen, 1) == 48) then
        return nil, "bad prefix length"
    end
    plen = plen and tonumber(plen)
    if not str_find(addr, ":", 1, true) then
        local n = ip.parse_v4(addr)
        if not n or (plen and plen > 32) then
            return nil, "not an IPv4 or IPv6 address or CIDR block"
        end
        plen = plen or 32
        local size = 2 ^ (32 - plen)
        if n % size ~= 0 then
            return nil, "host bits set: the block is " .. ip.v4_text(n - n % size) .. "/" .. plen
        end
        return { v4 = true, n = n, plen = plen }
    end
    local g = ip.parse_v6(addr)
    if not g or (plen and plen > 128) then
        return nil, "not an IPv4 or IPv6 address or CIDR block"
    end
    plen = plen or 128
    local masked = ip.mask6(g, plen)
    for i = 1, 8 do
        if masked[i] ~= g[i] then
            return nil, "host bits set: the block is " .. ip.v6_text(masked) .. "/" .. plen
        end
    end
    if g[1] == 0 and g[2] == 0 and g[3] == 0 and g[4] == 0 and g[5] == 0 and g[6] == 0xffff and plen >= 96 then
        return { v4 = true, n = g[7] * 65536 + g[8], plen = plen - 96 }
    end
    return { v4 = false, groups = g, plen = plen }
end
_M.parse_entry = parse_entry

local function valid_host(h)
    if #h == 0 or #h > LIMITS.host then
        return false
    end
    local inner = str_match(h, "^%[(.+)%]$")
    if inner then
        return not str_find(inner, "[A-F]") and ip.parse_v6(inner) ~= nil
    end
    for label in (h .. "."):gmatch("([^.]*)%.") do
        if not str_match(label, "^[a-z0-9_]$") and not str_match(label, "^[a-z0-9_][a-z0-9_-]*[a-z0-9_]$") or #label > 63 then
            return false
        end
    end
    return str_byte(h, #h) ~= 46
end

-- Absolute, without query, fragment, whitespace or control characters.
local function valid_path(p)
    return type(p) == "string" and str_byte(p, 1) == 47 and chars(p) <= LIMITS.path
        and not str_find(p, "[%?#%s%c]")
end
_M.valid_path = valid_path

local function handling(x, path)
    if not is_object(x) then
        return nil, "must be an object", path
    end
    local ok, err, field = keys_in(x, HANDLING_KEYS, path)
    if not ok then
        return nil, err, field
    end
    local of = x.on_filtered
    if of ~= nil and of ~= "WARN" and of ~= "BLOCK" then
        return nil, 'must be "WARN" or "BLOCK"', at(path, "on_filtered")
    end
    local s = x.block_http_status
    if s ~= nil and (type(s) ~= "number" or s % 1 ~= 0 or s < 400 or s > 599) then
        return nil, "must be an integer HTTP status from 400 to 599", at(path, "block_http_status")
    end
    return true
end

local function criteria(x, path)
    if not is_object(x) then
        return nil, "must be an object", path
    end
    local ok, err, field = keys_in(x, CRITERIA_KEYS, path)
    if not ok then
        return nil, err, field
    end
    if x.user_agents == nil and x.geo == nil and x.ips == nil then
        return nil, "must give at least one of user_agents, geo, ips", path
    end
    if x.user_agents ~= nil then
        local p = at(path, "user_agents")
        ok, err, field = array(x.user_agents, p, 1, LIMITS.user_agents)
        if not ok then
            return nil, err, field
        end
        for i, ua in ipairs(x.user_agents) do
            if type(ua) ~= "string" or #ua == 0 or chars(ua) > LIMITS.pattern or str_find(ua, "%c") then
                return nil, "must be a non-empty string of at most " .. LIMITS.pattern
                    .. " characters without control characters", item(p, i)
            end
        end
    end
    if x.geo ~= nil then
        local p = at(path, "geo")
        ok, err, field = array(x.geo, p, 1, LIMITS.geo)
        if not ok then
            return nil, err, field
        end
        for i, g in ipairs(x.geo) do
            local gp = item(p, i)
            if not is_object(g) then
                return nil, "must be an object", gp
            end
            ok, err, field = keys_in(g, GEO_KEYS, gp)
            if not ok then
                return nil, err, field
            end
            local cc = g.COUNTRY_CODE
            if cc == nil then
                return nil, "is required", at(gp, "COUNTRY_CODE")
            end
            if type(cc) ~= "string" or not COUNTRIES[cc] then
                return nil, "not an ISO 3166-1 alpha-2 country code (upper case; the United Kingdom is GB)", at(gp, "COUNTRY_CODE")
            end
        end
    end
    if x.ips ~= nil then
        local p = at(path, "ips")
        ok, err, field = array(x.ips, p, 1, LIMITS.ips)
        if not ok then
            return nil, err, field
        end
        for i, s in ipairs(x.ips) do
            local e, why = parse_entry(s)
            if not e then
                return nil, why, item(p, i)
            end
        end
    end
    return true
end

local function rule(x, path)
    if not is_object(x) then
        return nil, "must be an object", path
    end
    local ok, err, field = keys_in(x, RULE_KEYS, path)
    if not ok then
        return nil, err, field
    end
    local id = x.id
    if id == nil then
        return nil, "is required", at(path, "id")
    end
    if type(id) ~= "string" or #id > LIMITS.id or not str_match(id, "^[A-Za-z0-9_.:-]+$") then
        return nil, "must be 1 to " .. LIMITS.id .. " characters of A-Z a-z 0-9 _ . : -", at(path, "id")
    end
    if x.match == nil then
        return nil, "is required", at(path, "match")
    end
    ok, err, field = criteria(x.match, at(path, "match"))
    if not ok then
        return nil, err, field
    end
    if x.except ~= nil then
        ok, err, field = criteria(x.except, at(path, "except"))
        if not ok then
            return nil, err, field
        end
    end
    if x.response_handling ~= nil then
        return handling(x.response_handling, at(path, "response_handling"))
    end
    return true
end

local function filter(x, path)
    if not is_object(x) then
        return nil, "must be an object", path
    end
    local ok, err, field = keys_in(x, FILTER_KEYS, path)
    if not ok then
        return nil, err, field
    end
    if x.enabled ~= nil and type(x.enabled) ~= "boolean" then
        return nil, "must be true or false", at(path, "enabled")
    end
    if x.response_handling ~= nil then
        ok, err, field = handling(x.response_handling, at(path, "response_handling"))
        if not ok then
            return nil, err, field
        end
    end
    if x.filter_rules == nil then
        return true
    end
    local p = at(path, "filter_rules")
    ok, err, field = array(x.filter_rules, p, 0, LIMITS.rules)
    if not ok then
        return nil, err, field
    end
    local seen, patterns = {}, 0
    for i, r in ipairs(x.filter_rules) do
        ok, err, field = rule(r, item(p, i))
        if not ok then
            return nil, err, field
        end
        if seen[r.id] then
            return nil, "duplicate rule id " .. r.id, at(item(p, i), "id")
        end
        seen[r.id] = true
        patterns = patterns + #(r.match.user_agents or {}) + #(r.except and r.except.user_agents or {})
    end
    if patterns > LIMITS.user_agents_per_filter then
        return nil, "at most " .. LIMITS.user_agents_per_filter .. " user_agents patterns in one security_filter", p
    end
    return true
end

-- Validates a rule-set document; `base` prefixes the field paths.
function _M.validate(doc, base)
    base = base or ""
    if not is_object(doc) then
        return nil, "must be an object", base
    end
    local ok, err, field = keys_in(doc, ROOT_KEYS, base)
    if not ok then
        return nil, err, field
    end
    local v = doc.version
    if v ~= nil and (type(v) ~= "number" or v % 1 ~= 0 or v < 0 or v > 2 ^ 53) then
        return nil, "must be a non-negative integer", at(base, "version")
    end
    if doc.property ~= nil then
        ok, err, field = filter(doc.property, at(base, "property"))
        if not ok then
            return nil, err, field
        end
    end
    if doc.domains ~= nil then
        if not is_object(doc.domains) then
            return nil, "must be an object", at(base, "domains")
        end
        local n = 0
        for h, f in pairs(doc.domains) do
            n = n + 1
            local hp = entry(at(base, "domains"), h)
            if not valid_host(h) then
                return nil, "must be a lower-case host name, an IPv4 literal or a bracketed IPv6 literal, without a port", hp
            end
            ok, err, field = filter(f, hp)
            if not ok then
                return nil, err, field
            end
        end
        if n > LIMITS.domains then
            return nil, "must have at most " .. LIMITS.domains .. " hosts", at(base, "domains")
        end
    end
    if doc.paths ~= nil then
        local pp = at(base, "paths")
        ok, err, field = array(doc.paths, pp, 0, LIMITS.paths)
        if not ok then
            return nil, err, field
        end
        local seen = {}
        for i, pf in ipairs(doc.paths) do
            local p = item(pp, i)
            if not is_object(pf) then
                return nil, "must be an object", p
            end
            ok, err, field = keys_in(pf, PATH_KEYS, p)
            if not ok then
                return nil, err, field
            end
            if pf.host ~= nil and (type(pf.host) ~= "string" or not valid_host(pf.host)) then
                return nil, "must be a lower-case host name, an IPv4 literal or a bracketed IPv6 literal, without a port", at(p, "host")
            end
            if pf.path == nil then
                return nil, "is required", at(p, "path")
            end
            if not valid_path(pf.path) then
                return nil, 'must start with "/", at most ' .. LIMITS.path
                    .. ' characters, without "?", "#", whitespace or control characters', at(p, "path")
            end
            local key = (pf.host or "") .. " " .. pf.path
            if seen[key] then
                return nil, "duplicate path entry", at(p, "path")
            end
            seen[key] = true
            if pf.security_filter == nil then
                return nil, "is required", at(p, "security_filter")
            end
            ok, err, field = filter(pf.security_filter, at(p, "security_filter"))
            if not ok then
                return nil, err, field
            end
        end
    end
    return true
end

---------------------------------------------------------------------------
-- Compilation

local GEO, IPS, UA = 1, 2, 4

local function new_ipset()
    return { v4 = {}, v4mod = {}, n4 = 0, v6 = {}, v6plens = {}, n6 = 0 }
end

local function ipset_add(set, e)
    if e.v4 then
        local by = set.v4[e.plen]
        if not by then
            by = {}
            set.v4[e.plen] = by
        end
        by[e.n] = true
    else
        local by = set.v6[e.plen]
        if not by then
            by = {}
            set.v6[e.plen] = by
        end
        by[ip.v6_text(e.groups)] = true
    end
end

-- Longest prefixes first: exact addresses are the common case.
local function ipset_finish(set)
    local p4, p6 = {}, {}
    for plen in pairs(set.v4) do
        p4[#p4 + 1] = plen
    end
    for plen in pairs(set.v6) do
        p6[#p6 + 1] = plen
    end
    sort(p4, function(a, b) return a > b end)
    sort(p6, function(a, b) return a > b end)
    local nets, mods = {}, {}
    for i, plen in ipairs(p4) do
        nets[i] = set.v4[plen]
        mods[i] = 2 ^ (32 - plen)
    end
    local nets6 = {}
    for i, plen in ipairs(p6) do
        nets6[i] = set.v6[plen]
    end
    return { v4 = nets, v4mod = mods, n4 = #p4, v6 = nets6, v6plens = p6, n6 = #p6 }
end

local function compile_criteria(c)
    local out = { geo = nil, ips = nil, ua_exact = nil, ua_globs = nil, n_globs = 0 }
    if c.geo then
        out.geo = {}
        for _, g in ipairs(c.geo) do
            out.geo[g.COUNTRY_CODE] = true
        end
    end
    if c.ips then
        local set = new_ipset()
        for _, s in ipairs(c.ips) do
            ipset_add(set, assert(parse_entry(s)))
        end
        out.ips = ipset_finish(set)
    end
    if c.user_agents then
        for _, ua in ipairs(c.user_agents) do
            if str_find(ua, "[%*%?]") then
                out.ua_globs = out.ua_globs or {}
                out.n_globs = out.n_globs + 1
                out.ua_globs[out.n_globs] = glob.compile(ua, true)
            else
                out.ua_exact = out.ua_exact or {}
                out.ua_exact[str_lower(ua)] = true
            end
        end
    end
    out.has_ua = out.ua_exact ~= nil or out.ua_globs ~= nil
    return out
end

local function rh(x)
    return x ~= nil and x ~= null and x or {}
end

local function compile_level(f)
    local fh = rh(f.response_handling)
    local rules = {}
    local union = { geo = {}, ips = {}, user_agents = {} }
    local seen_ua = {}
    for _, r in ipairs(f.filter_rules or {}) do
        local h = rh(r.response_handling)
        local on = h.on_filtered or fh.on_filtered or "WARN"
        local m = r.match
        rules[#rules + 1] = {
            id = r.id,
            kinds = (m.geo and GEO or 0) + (m.ips and IPS or 0) + (m.user_agents and UA or 0),
            match = compile_criteria(m),
            except = r.except and compile_criteria(r.except) or nil,
            block = on == "BLOCK",
            status = h.block_http_status or fh.block_http_status or 403,
            blocked_by = "filter:" .. r.id,
        }
        for _, g in ipairs(m.geo or {}) do
            union.geo[#union.geo + 1] = g
        end
        for _, s in ipairs(m.ips or {}) do
            union.ips[#union.ips + 1] = s
        end
        for _, ua in ipairs(m.user_agents or {}) do
            if not seen_ua[ua] then
                seen_ua[ua] = true
                union.user_agents[#union.user_agents + 1] = ua
            end
        end
    end
    sort(rules, function(a, b) return a.id < b.id end)
    for k, v in pairs(union) do
        if #v == 0 then
            union[k] = nil
        end
    end
    return { enabled = f.enabled == true, rules = rules, n = #rules, union = compile_criteria(union) }
end

-- Compiles a validated rule set; nil for none.
function _M.compile(doc)
    if doc == nil or doc == null then
        return nil
    end
    local c = { property = nil, domains = {}, host_paths = {}, any_paths = {}, has_paths = false, rules = 0 }
    local active = 0
    local function count(level)
        c.rules = c.rules + level.n
        if level.enabled then
            active = active + level.n
        end
        return level
    end
    if doc.property then
        c.property = count(compile_level(doc.property))
    end
    for h, f in pairs(doc.domains or {}) do
        c.domains[h] = count(compile_level(f))
    end
    for _, pf in ipairs(doc.paths or {}) do
        local m = glob.path(pf.path)
        m.level = count(compile_level(pf.security_filter))
        local list = c.any_paths
        if pf.host then
            list = c.host_paths[pf.host]
            if not list then
                list = {}
                c.host_paths[pf.host] = list
            end
        end
        list[#list + 1] = m
        c.has_paths = true
    end
    sort(c.any_paths, glob.more_specific)
    for _, list in pairs(c.host_paths) do
        sort(list, glob.more_specific)
    end
    c.has_domains = next(c.domains) ~= nil
    c.needs_host = c.has_domains or next(c.host_paths) ~= nil
    -- One user-agent memo per compiled set, shared by its levels: a new rule
    -- set starts with an empty one, so no verdict outlives the rules it
    -- came from.
    local memo = { map = {}, n = 0 }
    local function share(level)
        level.ua_memo = memo
    end
    if c.property then
        share(c.property)
    end
    for _, level in pairs(c.domains) do
        share(level)
    end
    for _, list in pairs(c.host_paths) do
        for _, m in ipairs(list) do
            share(m.level)
        end
    end
    for _, m in ipairs(c.any_paths) do
        share(m.level)
    end
    -- No enabled level has a rule: nothing can ever filter, and the access
    -- check skips the filter entirely.
    c.empty = active == 0
    return c
end

---------------------------------------------------------------------------
-- Evaluation. Per-call scratch in upvalues: a worker evaluates one request
-- at a time (nothing here yields), and nothing is allocated unless needed.

local ua_raw, ua_lower, ua_rec, country, ip_kind, ip_v4, ip_groups, ip_masked
local get_ua, get_country, get_ip, ua_memo

-- User-agent verdicts, per worker and compiled rule set: user agent (as
-- sent) -> { [compiled criteria] = matches? }. Matching one against every
-- wildcard of a level costs microseconds (a browser's 100+ bytes against
-- dozens of patterns), and a site's traffic repeats a few thousand user
-- agents. Bounded in entries (emptied when full) and in key length: a longer
-- user agent is matched every time, so hostile ones cannot fill memory.
local UA_MEMO_MAX = 4096
local UA_MEMO_KEY_MAX = 512
_M.UA_MEMO_MAX = UA_MEMO_MAX

-- nginx's $host is lower-case without port or trailing dot already; other
-- callers (the tests' vectors) may pass a raw Host header.
local function normalise_host(h)
    if not str_find(h, "[A-Z:]") and str_byte(h, #h) ~= 46 then
        return h
    end
    h = str_lower(h)
    if str_byte(h, 1) == 91 then
        h = str_match(h, "^(%[[^%]]*%])") or h
    else
        h = str_match(h, "^([^:]*)")
    end
    if str_byte(h, #h) == 46 then
        h = h:sub(1, -2)
    end
    return h
end
_M.normalise_host = normalise_host

function _M.level_for(c, host, path)
    if c.has_paths then
        local own = c.host_paths[host]
        if own then
            for i = 1, #own do
                if glob.path_match(own[i], path) then
                    return own[i].level
                end
            end
        end
        local any = c.any_paths
        for i = 1, #any do
            if glob.path_match(any[i], path) then
                return any[i].level
            end
        end
    end
    return c.domains[host] or c.property
end

local function geo_matches(cr)
    if country == nil then
        country = get_country() or ""
        if #country == 2 then
            country = str_upper(country)
        else
            country = false
        end
    end
    return country ~= false and cr.geo[country] == true
end

local function ips_match(cr)
    if ip_kind == nil then
        ip_kind, ip_v4, ip_groups, ip_masked = get_ip()
        ip_kind = ip_kind or false
    end
    local set = cr.ips
    if ip_kind == 4 then
        local n, nets, mods = ip_v4, set.v4, set.v4mod
        for i = 1, set.n4 do
            local m = mods[i]
            if nets[i][n - n % m] then
                return true
            end
        end
        return false
    elseif ip_kind == 6 then
        local plens, nets, net6 = set.v6plens, set.v6, ip.net6
        for i = 1, set.n6 do
            if nets[i][net6(ip_groups, plens[i], ip_masked)] then
                return true
            end
        end
    end
    return false
end

local function ua_compute(cr)
    if ua_lower == nil then
        ua_lower = str_lower(ua_raw)
    end
    if cr.ua_exact and cr.ua_exact[ua_lower] then
        return true
    end
    local globs = cr.ua_globs
    if globs then
        local match = glob.match
        for i = 1, cr.n_globs do
            if match(globs[i], ua_lower) then
                return true
            end
        end
    end
    return false
end

local function ua_matches(cr)
    local rec = ua_rec
    if rec == nil then
        ua_raw = get_ua() or ""
        rec = false
        local memo = ua_memo
        if memo and #ua_raw <= UA_MEMO_KEY_MAX then
            rec = memo.map[ua_raw]
            if not rec then
                if memo.n >= UA_MEMO_MAX then
                    memo.map, memo.n = {}, 0
                end
                rec = {}
                memo.map[ua_raw] = rec
                memo.n = memo.n + 1
            end
        end
        ua_rec = rec
    end
    if rec then
        local hit = rec[cr]
        if hit == nil then
            hit = ua_compute(cr)
            rec[cr] = hit
        end
        return hit
    end
    return ua_compute(cr)
end

-- Cheapest kind first; the kinds are ANDed, so the order changes no outcome.
local function matches(cr)
    if cr.geo and not geo_matches(cr) then
        return false
    end
    if cr.ips and not ips_match(cr) then
        return false
    end
    if cr.has_ua and not ua_matches(cr) then
        return false
    end
    return true
end

-- Evaluates a level. The getters are called at most once each, only when a
-- rule needs them: ua() -> User-Agent or nil; country() -> code or nil;
-- client() -> 4, integer | 6, _, groups[, cache for ip.net6] | nil (not an
-- address).
-- Returns "block", rule | "warn", rule | nil. `matched` (optional table) is
-- filled with every matching rule id, ascending (for the tests).
function _M.evaluate(level, ua, ctry, client, matched)
    if not level or not level.enabled or level.n == 0 then
        return nil
    end
    get_ua, get_country, get_ip = ua, ctry, client
    ua_lower, ua_rec, country, ip_kind = nil, nil, nil, nil
    ua_memo = level.ua_memo
    local rules, u = level.rules, level.union
    -- Every kind of the union is needed by some rule, so each is checked
    -- anyway: checked first, a request that misses them all (most) skips the
    -- rules altogether.
    local hits = 0
    if u.geo and geo_matches(u) then
        hits = GEO
    end
    if u.ips and ips_match(u) then
        hits = bor(hits, IPS)
    end
    if u.has_ua and ua_matches(u) then
        hits = bor(hits, UA)
    end
    if hits == 0 then
        get_ua, get_country, get_ip, ua_rec, ua_memo = nil, nil, nil, nil, nil
        return nil
    end
    local checked = bor(u.geo and GEO or 0, u.ips and IPS or 0, u.has_ua and UA or 0)
    local block, warn
    for i = 1, level.n do
        local r = rules[i]
        local kinds = r.kinds
        local unknown = band(kinds, bnot(checked))
        if unknown ~= 0 then
            if band(unknown, GEO) ~= 0 and u.geo and geo_matches(u) then
                hits = bor(hits, GEO)
            end
            if band(unknown, IPS) ~= 0 and u.ips and ips_match(u) then
                hits = bor(hits, IPS)
            end
            if band(unknown, UA) ~= 0 and u.has_ua and ua_matches(u) then
                hits = bor(hits, UA)
            end
            checked = bor(checked, unknown)
        end
        if band(kinds, hits) == kinds and matches(r.match) and not (r.except and matches(r.except)) then
            if matched then
                matched[#matched + 1] = r.id
            end
            if r.block then
                if not block then
                    block = r
                    if not matched then
                        break
                    end
                end
            elseif not warn then
                warn = r
            end
        end
    end
    get_ua, get_country, get_ip, ua_rec, ua_memo = nil, nil, nil, nil, nil
    if block then
        return "block", block
    end
    if warn then
        return "warn", warn
    end
    return nil
end

return _M
