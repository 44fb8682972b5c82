-- logwarden.filter_validate: validation of a security_filter rule set, the
-- checks of validateRuleSet (shared/security-filter/validate.ts) with the
-- same limits (logwarden.limits, from schemas/security-filter/limits.json).
-- Both must accept and refuse exactly the same documents:
-- lua/test/rule-set-validation.test.ts runs every vector of
-- schemas/security-filter/ through both. Where TypeScript lists every
-- problem, this returns the first.
--
--   validate(doc, base) -> true | nil, message, field path (prefixed by base)

local v = require "logwarden.validate"
local ip = require "logwarden.ip"
local limits = require "logwarden.limits"

local str_find, str_match, str_byte = string.find, string.match, string.byte

local is_array, is_object, keys_in, array, object_with = v.is_array, v.is_object, v.keys_in, v.array, v.object_with
local at, item, entry, chars, set_of = v.at, v.item, v.entry, v.chars, v.set_of

local L = limits.LIMITS
local STATUS = limits.BLOCK_STATUS
local COUNTRIES = limits.COUNTRIES
local ON_FILTERED = limits.ON_FILTERED
local ON_FILTERED_TEXT = limits.ON_FILTERED_TEXT

local _M = { _VERSION = '0.1.0' }

local ROOT_KEYS = set_of { "version", "property", "domains", "paths" }
local FILTER_KEYS = set_of { "enabled", "filter_rules", "response_handling" }
local RULE_KEYS = set_of { "id", "match", "except", "response_handling" }
local CRITERIA_KEYS = set_of { "user_agents", "geo", "ips" }
local HANDLING_KEYS = set_of { "on_filtered", "block_http_status" }
local PATH_KEYS = set_of { "host", "path", "security_filter" }
local GEO_KEYS = set_of { "COUNTRY_CODE", "ASN" }
local ASN_MAX = 4294967295

-- A rule's `ips` entry: an address or a CIDR block with the host bits clear.
local function ip_entry(s)
    if type(s) ~= "string" then
        return nil, "must be a string"
    end
    local b = ip.parse_block(s)
    if not b then
        return nil, "not an IPv4 or IPv6 address or CIDR block"
    end
    if b.masked then
        return nil, "host bits set: the block is " .. b.text
    end
    return true
end

local function valid_host(h)
    if #h == 0 or #h > L.host_length then
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

-- The white space of JavaScript's \s beyond ASCII (the TypeScript check is a
-- RegExp), as UTF-8: U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F,
-- U+205F, U+3000, U+FEFF.
local function unicode_space(s)
    return str_find(s, "\194\160", 1, true) or str_find(s, "\225\154\128", 1, true)
        or str_find(s, "\226\128[\128-\138\168\169\175]") or str_find(s, "\226\129\159", 1, true)
        or str_find(s, "\227\128\128", 1, true) or str_find(s, "\239\187\191", 1, true)
end

-- Absolute, without query, fragment, whitespace or control characters.
local function valid_path(p)
    return type(p) == "string" and str_byte(p, 1) == 47 and chars(p) <= L.path_length
        and not str_find(p, "[%?#%s%c]") and not unicode_space(p)
end
_M.valid_path = valid_path

local function handling(x, path)
    local ok, err, field = object_with(x, HANDLING_KEYS, path)
    if not ok then
        return nil, err, field
    end
    local of = x.on_filtered
    if of ~= nil and not (type(of) == "string" and ON_FILTERED[of]) then
        return nil, "must be one of " .. ON_FILTERED_TEXT, at(path, "on_filtered")
    end
    local s = x.block_http_status
    if s ~= nil and (type(s) ~= "number" or s % 1 ~= 0 or s < STATUS.min or s > STATUS.max) then
        return nil, "must be an integer HTTP status from " .. STATUS.min .. " to " .. STATUS.max, at(path, "block_http_status")
    end
    return true
end

local function user_agents(list, p)
    local ok, err, field = array(list, p, 1, L.user_agents)
    if not ok then
        return nil, err, field
    end
    for i, ua in ipairs(list) do
        if type(ua) ~= "string" or #ua == 0 or chars(ua) > L.pattern_length or str_find(ua, "%c") then
            return nil, "must be a non-empty string of at most " .. L.pattern_length
                .. " characters without control characters", item(p, i)
        end
    end
    return true
end

local function geo(list, p)
    local ok, err, field = array(list, p, 1, L.geo)
    if not ok then
        return nil, err, field
    end
    for i, g in ipairs(list) do
        local gp = item(p, i)
        ok, err, field = object_with(g, GEO_KEYS, gp)
        if not ok then
            return nil, err, field
        end
        local cc, asn = g.COUNTRY_CODE, g.ASN
        if cc == nil and asn == nil then
            return nil, "is required (or ASN)", at(gp, "COUNTRY_CODE")
        end
        if cc ~= nil and asn ~= nil then
            return nil, "one geo variable per entry: COUNTRY_CODE or ASN", gp
        end
        if asn ~= nil then
            if type(asn) ~= "number" or asn % 1 ~= 0 or asn < 1 or asn > ASN_MAX then
                return nil, "must be an autonomous system number, an integer 1 to " .. ASN_MAX, at(gp, "ASN")
            end
        elseif type(cc) ~= "string" or not COUNTRIES[cc] then
            return nil, "not an ISO 3166-1 alpha-2 country code (upper case; the United Kingdom is GB)", at(gp, "COUNTRY_CODE")
        end
    end
    return true
end

local function ips(list, p)
    local ok, err, field = array(list, p, 1, L.ips)
    if not ok then
        return nil, err, field
    end
    for i, s in ipairs(list) do
        local good, why = ip_entry(s)
        if not good then
            return nil, why, item(p, i)
        end
    end
    return true
end

local function criteria(x, path)
    local ok, err, field = object_with(x, CRITERIA_KEYS, path)
    if not ok then
        return nil, err, field
    end
    if x.user_agents == nil and x.geo == nil and x.ips == nil then
        return nil, "must give at least one of user_agents, geo, ips", path
    end
    if x.user_agents ~= nil then
        ok, err, field = user_agents(x.user_agents, at(path, "user_agents"))
        if not ok then
            return nil, err, field
        end
    end
    if x.geo ~= nil then
        ok, err, field = geo(x.geo, at(path, "geo"))
        if not ok then
            return nil, err, field
        end
    end
    if x.ips ~= nil then
        return ips(x.ips, at(path, "ips"))
    end
    return true
end

local function rule(x, path)
    local ok, err, field = object_with(x, RULE_KEYS, path)
    if not ok then
        return nil, err, field
    end
    local id = x.id
    if id == nil then
        return nil, "is required", at(path, "id")
    end
    if type(id) ~= "string" or #id > L.id_length or not str_match(id, "^[A-Za-z0-9_.:-]+$") then
        return nil, "must be 1 to " .. L.id_length .. " characters of A-Z a-z 0-9 _ . : -", at(path, "id")
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

local function count_patterns(c)
    return is_object(c) and is_array(c.user_agents) and #c.user_agents or 0
end

local function filter(x, path)
    local ok, err, field = object_with(x, FILTER_KEYS, path)
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
    ok, err, field = array(x.filter_rules, p, 0, L.rules_per_filter)
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
        patterns = patterns + count_patterns(r.match) + count_patterns(r.except)
    end
    if patterns > L.user_agents_per_filter then
        return nil, "at most " .. L.user_agents_per_filter .. " user_agents patterns in one security_filter", p
    end
    return true
end

local HOST_PROBLEM = "must be a lower-case host name, an IPv4 literal or a bracketed IPv6 literal, without a port"

local function domains(x, path)
    if not is_object(x) then
        return nil, "must be an object", path
    end
    local n = 0
    for h, f in pairs(x) do
        n = n + 1
        local hp = entry(path, h)
        if not valid_host(h) then
            return nil, HOST_PROBLEM, hp
        end
        local ok, err, field = filter(f, hp)
        if not ok then
            return nil, err, field
        end
    end
    if n > L.domains then
        return nil, "must have at most " .. L.domains .. " hosts", path
    end
    return true
end

local function paths(x, pp)
    local ok, err, field = array(x, pp, 0, L.paths)
    if not ok then
        return nil, err, field
    end
    local seen = {}
    for i, pf in ipairs(x) do
        local p = item(pp, i)
        ok, err, field = object_with(pf, PATH_KEYS, p)
        if not ok then
            return nil, err, field
        end
        if pf.host ~= nil and type(pf.host) ~= "string" then
            return nil, "must be a string", at(p, "host")
        end
        if pf.host ~= nil and not valid_host(pf.host) then
            return nil, HOST_PROBLEM, at(p, "host")
        end
        if pf.path == nil then
            return nil, "is required", at(p, "path")
        end
        if not valid_path(pf.path) then
            return nil, 'must start with "/", at most ' .. L.path_length
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
    return true
end

-- Validates a rule-set document; `base` prefixes the field paths.
function _M.validate(doc, base)
    base = base or ""
    local ok, err, field = object_with(doc, ROOT_KEYS, base)
    if not ok then
        return nil, err, field
    end
    local ver = doc.version
    if ver == nil then
        return nil, "is required", at(base, "version")
    end
    if type(ver) ~= "number" or ver % 1 ~= 0 or ver < 0 or ver > L.version_max then
        return nil, "must be a non-negative integer", at(base, "version")
    end
    if doc.property ~= nil then
        ok, err, field = filter(doc.property, at(base, "property"))
        if not ok then
            return nil, err, field
        end
    end
    if doc.domains ~= nil then
        ok, err, field = domains(doc.domains, at(base, "domains"))
        if not ok then
            return nil, err, field
        end
    end
    if doc.paths ~= nil then
        return paths(doc.paths, at(base, "paths"))
    end
    return true
end

return _M
