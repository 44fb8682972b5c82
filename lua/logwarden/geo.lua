-- logwarden.geo: the address ranges of the countries and autonomous systems
-- that the active security_filter rules name, as the enforcer pushes them in
-- the rule set's `geo` member (PUT /rules), so that geo rules match at a node
-- without nginx's geoip2 module:
--
--   "geo": { "countries": { "RU": ["2.26.8.0/24", "5.3.0.0-5.3.7.255", "2a00:1fa0::/29", ...] },
--            "asns":      { "13335": ["1.1.1.0/24", ...] } }
--
-- A key's value is either a list of addresses, CIDR blocks and IPv4 ranges
-- "a.b.c.d-e.f.g.h" (inclusive), or, as the enforcer sends it, the packed
-- form { "v4": base64, "v6": base64 } of its sorted ranges, which keeps the
-- largest countries small enough to push (shared/geo/packed-ranges.ts
-- defines the two streams; read_packed() below reads them). nginx's
-- $logwarden_country, where set, wins over the country ranges
-- (logwarden.filter decides); an AS is only known from here.
--
--   validate(doc, path) -> true | nil, err, field
--   compile(doc)        -> { countries = { CC = ipset }, asns = { ["n"] = ipset } }

local ip = require "logwarden.ip"
local ipset = require "logwarden.ipset"
local v = require "logwarden.validate"

local ipairs, pairs, type = ipairs, pairs, type
local str_match, byte = string.match, string.byte
local floor = math.floor
local decode_base64 = ngx.decode_base64
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

local PACKED_KEYS = v.set_of { "v4", "v6" }

-- One unsigned LEB128 varint of s at pos: value, next pos; nil when
-- truncated or over 2^35.
local function varint(s, pos, len)
    local v, scale = 0, 1
    while pos <= len do
        local b = byte(s, pos)
        pos = pos + 1
        if b < 128 then
            return v + b * scale, pos
        end
        v = v + (b - 128) * scale
        scale = scale * 128
        if scale > 2 ^ 35 then
            return nil
        end
    end
    return nil
end

-- One bound of stream6 into out (eight groups): the header, `shared` groups
-- of ref (ref may be out), n explicit ones, the rest `fill`. Next pos or nil.
local function groups(s, pos, len, out, ref, fill)
    if pos > len then
        return nil
    end
    local h = byte(s, pos)
    local shared, n = floor(h / 16), h % 16
    if shared + n > 8 or pos + 2 * n > len then
        return nil
    end
    pos = pos + 1
    for k = 1, shared do
        out[k] = ref[k]
    end
    for k = shared + 1, shared + n do
        local hi, lo = byte(s, pos, pos + 1)
        out[k] = hi * 256 + lo
        pos = pos + 2
    end
    for k = shared + n + 1, 8 do
        out[k] = fill
    end
    return pos
end

-- a < b for two bounds as (48, 48, 32)-bit triples.
local function before(a1, b1, c1, a2, b2, c2)
    return a1 < a2 or (a1 == a2 and (b1 < b2 or (b1 == b2 and c1 < c2)))
end

-- Reads a packed value into `set` (a logwarden.ipset; nil: only checks it).
-- Returns the number of ranges, or nil, err, "v4" | "v6".
local function read_packed(p, set)
    local s = type(p.v4) == "string" and decode_base64(p.v4)
    if not s then
        return nil, "must be base64", "v4"
    end
    local count, pos, len, nxt = 0, 1, #s, 0
    while pos <= len do
        local gap, span
        gap, pos = varint(s, pos, len)
        if gap then
            span, pos = varint(s, pos, len)
        end
        if not span then
            return nil, "truncated or malformed range stream", "v4"
        end
        local lo = nxt + gap
        local hi = lo + span
        if hi > 4294967295 then
            return nil, "range past 255.255.255.255", "v4"
        end
        if set then
            ipset.add_range4(set, lo, hi)
        end
        count, nxt = count + 1, hi + 1
    end
    s = type(p.v6) == "string" and decode_base64(p.v6)
    if not s then
        return nil, "must be base64", "v6"
    end
    pos, len = 1, #s
    local g, h = { 0, 0, 0, 0, 0, 0, 0, 0 }, {}
    local pa, pb, pc = -1, -1, -1
    while pos <= len do
        pos = groups(s, pos, len, g, g, 0)
        pos = pos and groups(s, pos, len, h, g, 0xffff)
        if not pos then
            return nil, "truncated or malformed range stream", "v6"
        end
        local la, lb, lc = (g[1] * 65536 + g[2]) * 65536 + g[3], (g[4] * 65536 + g[5]) * 65536 + g[6], g[7] * 65536 + g[8]
        local ha, hb, hc = (h[1] * 65536 + h[2]) * 65536 + h[3], (h[4] * 65536 + h[5]) * 65536 + h[6], h[7] * 65536 + h[8]
        if before(ha, hb, hc, la, lb, lc) or not before(pa, pb, pc, la, lb, lc) then
            return nil, "ranges out of order", "v6"
        end
        if set then
            ipset.add_range6(set, la, lb, lc, ha, hb, hc)
        end
        count, pa, pb, pc = count + 1, ha, hb, hc
    end
    return count
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
                if v.is_object(list) then
                    ok, err, field = object_with(list, PACKED_KEYS, kp)
                    if not ok then
                        return nil, err, field
                    end
                    local n, why, which = read_packed(list, nil)
                    if not n then
                        return nil, why, at(kp, which)
                    end
                    entries = entries + n
                else
                    ok, err, field = v.array(list, kp, 0, MAX_ENTRIES)
                    if not ok then
                        return nil, err == "must be an array" and "must be an array or a packed { v4, v6 }" or err, field
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
        if v.is_object(list) then
            assert(read_packed(list, set))
        else
            for _, s in ipairs(list) do
                ipset.add(set, assert(_M.parse_entry(s)))
            end
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
