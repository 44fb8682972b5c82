-- logwarden.geo: the address ranges of the countries and autonomous systems
-- that the active security_filter rules name, as the enforcer pushes them in
-- the rule set's `geo` member (PUT /rules), so that geo rules match at a node
-- without nginx's geoip2 module:
--
--   "geo": { "countries": { "RU": ["2.26.8.0/24", "5.3.0.0-5.3.7.255", "2a00:1fa0::/29", ...] },
--            "asns":      { "13335": ["1.1.1.0/24", ...] } }
--
-- Entries are addresses, CIDR blocks, or IPv4 ranges "a.b.c.d-e.f.g.h"
-- (inclusive). nginx's $logwarden_country, where set, wins over the
-- country ranges (logwarden.filter decides); an AS is only known from here.
--
--   validate(doc, path) -> true | nil, err, field
--   compile(doc)        -> { countries = { CC = ipset }, asns = { ["n"] = ipset } }

local ip = require "logwarden.ip"
local ipset = require "logwarden.ipset"
local v = require "logwarden.validate"

local ipairs, pairs = ipairs, pairs
local str_match = string.match
local at, item, entry, object_with, absent = v.at, v.item, v.entry, v.object_with, v.absent

local _M = { _VERSION = '0.1.0' }

-- Bounds what one rule set may carry: keys, and entries in all.
local MAX_KEYS = 1000
local MAX_ENTRIES = 500000
_M.MAX_ENTRIES = MAX_ENTRIES

local ROOT_KEYS = v.set_of { "countries", "asns" }

-- One entry as logwarden.ipset.add takes it.
function _M.parse_entry(s)
    if type(s) ~= "string" then
        return nil, "must be a string"
    end
    local a, b = str_match(s, "^([%d%.]+)%-([%d%.]+)$")
    if a then
        local _, fa, lo = ip.normalise(a)
        local _, fb, hi = ip.normalise(b)
        if fa ~= 4 or fb ~= 4 or hi < lo then
            return nil, "not an IPv4 range a.b.c.d-e.f.g.h"
        end
        return { family = 4, lo = lo, hi = hi, range = true }
    end
    return ip.parse_block(s)
end

function _M.validate(doc, path)
    local ok, err, field = object_with(doc, ROOT_KEYS, path)
    if not ok then
        return nil, err, field
    end
    local keys, entries = 0, 0
    for _, kind in ipairs({ "countries", "asns" }) do
        local m = doc[kind]
        if not absent(m) then
            local mp = at(path, kind)
            if not v.is_object(m) then
                return nil, "must be an object", mp
            end
            for k, list in pairs(m) do
                keys = keys + 1
                local kp = entry(mp, k)
                local good = kind == "countries" and str_match(k, "^%u%u$") or kind == "asns" and str_match(k, "^[1-9]%d*$")
                if not good then
                    return nil, kind == "countries" and "must be a country code" or "must be an AS number", kp
                end
                ok, err, field = v.array(list, kp, 0, MAX_ENTRIES)
                if not ok then
                    return nil, err, field
                end
                for i, s in ipairs(list) do
                    entries = entries + 1
                    local b, why = _M.parse_entry(s)
                    if not b then
                        return nil, why, item(kp, i)
                    end
                end
            end
        end
    end
    if keys > MAX_KEYS or entries > MAX_ENTRIES then
        return nil, "at most " .. MAX_KEYS .. " countries and ASes and " .. MAX_ENTRIES .. " ranges", path
    end
    return true
end

-- One finished logwarden.ipset per key: built once per rule set, shared by
-- every criterion (and level union) that names the key.
local function sets(m)
    local out = {}
    if absent(m) then
        return out
    end
    for k, list in pairs(m) do
        local set = ipset.new()
        for _, s in ipairs(list) do
            ipset.add(set, assert(_M.parse_entry(s)))
        end
        out[k] = ipset.finish(set)
    end
    return out
end

-- Validated documents only; nil gives empty maps.
function _M.compile(doc)
    if absent(doc) then
        return { countries = {}, asns = {} }
    end
    return { countries = sets(doc.countries), asns = sets(doc.asns) }
end

return _M
