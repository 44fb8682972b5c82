-- logwarden.filter: the security_filter engine at the edge. The semantics are
-- those of schemas/security-filter/README.md, pinned by vectors.json, which
-- services/enforcer/vectors.test.ts runs through a real nginx; the TypeScript
-- engine (shared/security-filter/) runs the same vectors. Validation is
-- logwarden.filter_validate: compile takes validated documents only.
--
--   compile(doc)         -> compiled rule set (per worker)
--   level_for(c, host, path) -> the applied level or nil
--   evaluate(level, ua_fn, country_fn, ip_fn) -> "block"|"challenge"|"warn"|nil, rule
--
-- Levels: path > domain > property, the most specific alone. Within a level,
-- rules are sorted by id once, so the first matching BLOCK (else CHALLENGE,
-- else WARN) rule
-- is the lowest id whatever the order of filter_rules: the CDN's "UA before
-- Geo before IP" ordering restriction does not exist here. Each level keeps
-- the union of its rules' match values per kind: a request that misses a
-- kind's union skips every rule needing that kind, so a clean request costs
-- one check per kind rather than one per rule.

local cjson = require "cjson.safe"
local bit = require "bit"
local ip = require "logwarden.ip"
local ipset = require "logwarden.ipset"
local glob = require "logwarden.glob"
local limits = require "logwarden.limits"

local pairs = pairs
local ipairs = ipairs
local next = next
local band, bor, bnot = bit.band, bit.bor, bit.bnot
local str_find = string.find
local str_lower = string.lower
local str_upper = string.upper
local str_byte = string.byte
local str_match = string.match
local sort = table.sort
local null = cjson.null
local contains4, contains6 = ipset.contains4, ipset.contains6
local first_path = glob.first_path

local DEFAULT_STATUS = limits.BLOCK_STATUS.default

local _M = { _VERSION = '0.1.0' }

---------------------------------------------------------------------------
-- Compilation

local GEO, IPS, UA = 1, 2, 4

-- A criterion's geo entries: its countries (compared with nginx's country
-- variable), and the pushed range sets (logwarden.geo, one per key, shared)
-- of its countries (used when that variable is empty) and of its ASes.
local function compile_geo(out, list, ranges)
    out.geo = {}
    local cc_sets, as_sets = {}, {}
    for _, g in ipairs(list) do
        if g.COUNTRY_CODE then
            out.geo[g.COUNTRY_CODE] = true
            local set = ranges and ranges.countries[g.COUNTRY_CODE]
            if set then
                cc_sets[#cc_sets + 1] = set
            end
        else
            local set = ranges and ranges.asns[tostring(g.ASN)]
            if set then
                as_sets[#as_sets + 1] = set
            end
        end
    end
    out.geo_cc_sets = #cc_sets > 0 and cc_sets or nil
    out.geo_as_sets = #as_sets > 0 and as_sets or nil
end

local function compile_criteria(c, ranges)
    local out = { geo = nil, ips = nil, ua_exact = nil, ua_globs = nil, n_globs = 0 }
    if c.geo then
        compile_geo(out, c.geo, ranges)
    end
    if c.ips then
        local set = ipset.new()
        for _, s in ipairs(c.ips) do
            ipset.add(set, assert(ip.parse_block(s)))
        end
        out.ips = ipset.finish(set)
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

local function compile_level(f, ranges)
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
            match = compile_criteria(m, ranges),
            except = r.except and compile_criteria(r.except, ranges) or nil,
            block = on == "BLOCK",
            challenge = on == "CHALLENGE",
            status = h.block_http_status or fh.block_http_status or DEFAULT_STATUS,
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
    return { enabled = f.enabled == true, rules = rules, n = #rules, union = compile_criteria(union, ranges) }
end

-- Compiles a validated rule set; nil for none. ranges: logwarden.geo.compile's
-- (optional), the pushed ranges of the countries and ASes the rules name.
function _M.compile(doc, ranges)
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
        c.property = count(compile_level(doc.property, ranges))
    end
    for h, f in pairs(doc.domains or {}) do
        c.domains[h] = count(compile_level(f, ranges))
    end
    for _, pf in ipairs(doc.paths or {}) do
        local m = glob.path(pf.path)
        m.level = count(compile_level(pf.security_filter, ranges))
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
        local m = own and first_path(own, path) or first_path(c.any_paths, path)
        if m then
            return m.level
        end
    end
    return c.domains[host] or c.property
end

local function in_set(set)
    if ip_kind == nil then
        ip_kind, ip_v4, ip_groups, ip_masked = get_ip()
        ip_kind = ip_kind or false
    end
    if ip_kind == 4 then
        return set.n4 > 0 and contains4(set, ip_v4)
    elseif ip_kind == 6 then
        return set.any6 and contains6(set, ip_groups, ip_masked)
    end
    return false
end

-- nginx's country variable wins where set; without it, the pushed ranges of
-- the criterion's countries decide. An AS only comes from its ranges.
local function geo_matches(cr)
    if country == nil then
        country = get_country() or ""
        if #country == 2 then
            country = str_upper(country)
        else
            country = false
        end
    end
    if country ~= false then
        if cr.geo[country] == true then
            return true
        end
    elseif cr.geo_cc_sets then
        local list = cr.geo_cc_sets
        for i = 1, #list do
            if in_set(list[i]) then
                return true
            end
        end
    end
    local list = cr.geo_as_sets
    if list then
        for i = 1, #list do
            if in_set(list[i]) then
                return true
            end
        end
    end
    return false
end

local function ips_match(cr)
    return in_set(cr.ips)
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
-- Returns "block", rule | "challenge", rule | "warn", rule | nil. `matched` (optional table) is
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
    local block, challenge, warn
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
            elseif r.challenge then
                challenge = challenge or r
            elseif not warn then
                warn = r
            end
        end
    end
    get_ua, get_country, get_ip, ua_rec, ua_memo = nil, nil, nil, nil, nil
    if block then
        return "block", block
    end
    if challenge then
        return "challenge", challenge
    end
    if warn then
        return "warn", warn
    end
    return nil
end

return _M
