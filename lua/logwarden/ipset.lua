-- logwarden.ipset: a per-worker set of IPv4 ranges and IPv6 blocks, for the
-- blocked ranges, the whitelist, a deployment's allowed_ips and the `ips` of
-- security_filter rules: the one address set of the Lua side.
--
-- IPv4: with few distinct prefix lengths (the common case: exact addresses,
-- a /24 here and there, a rule's /29s), one hash set per length, longest
-- first, so a lookup costs one masked table read per length; with more, the
-- ranges are merged and sorted so that a binary search decides. IPv6 blocks
-- are one hash set per prefix length present (longest first). Built once per
-- change, read per request without allocating for IPv4.

local ip = require "logwarden.ip"

local floor = math.floor
local sort = table.sort
local ipairs = ipairs

local _M = { _VERSION = '0.1.0' }

-- Up to this many distinct IPv4 prefix lengths, hash sets per length beat
-- a binary search over the merged ranges.
local MAX_HASHED_LENGTHS = 4

function _M.new()
    return { lo = {}, hi = {}, plen4 = {}, n4 = 0, v6 = {}, plens = {}, nplens = 0, size = 0,
             h4 = {}, h4mod = {}, nh4 = 0, any6 = false }
end

-- Adds a block as ip.parse_block returns it, or an IPv4 range { family = 4,
-- lo, hi, range = true } (logwarden.geo).
function _M.add(set, b)
    set.size = set.size + 1
    if b.family == 4 then
        local lo = b.lo or ip.parse_v4(b.key)
        local hi = b.hi or lo
        set.n4 = set.n4 + 1
        if b.range then
            -- An arbitrary range (logwarden.geo) has no prefix length: binary search.
            set.ranged = true
        end
        set.lo[set.n4] = lo
        set.hi[set.n4] = hi
        set.plen4[set.n4] = b.plen
    else
        local plen = b.plen
        local by = set.v6[plen]
        if not by then
            by = {}
            set.v6[plen] = by
            set.plens[#set.plens + 1] = plen
        end
        by[b.net or b.key] = true
    end
end

-- Adds an IPv4 range lo..hi (integers, inclusive; logwarden.geo).
function _M.add_range4(set, lo, hi)
    local n = set.n4 + 1
    set.n4 = n
    set.lo[n], set.hi[n] = lo, hi
    set.ranged = true
    set.size = set.size + 1
end

-- Adds an IPv6 range, its bounds as in_ranges6 keeps them (below). Ranges
-- must come sorted by start, disjoint (logwarden.geo checks its streams).
function _M.add_range6(set, la, lb, lc, ha, hb, hc)
    local r = set.r6
    if not r then
        r = { n = 0, la = {}, lb = {}, lc = {}, ha = {}, hb = {}, hc = {} }
        set.r6 = r
    end
    local n = r.n + 1
    r.n = n
    r.la[n], r.lb[n], r.lc[n], r.ha[n], r.hb[n], r.hc[n] = la, lb, lc, ha, hb, hc
    set.size = set.size + 1
end

-- One hash set per IPv4 prefix length when there are few lengths (see the
-- top); false when there are more.
local function hash_by_length(set)
    local by, lens = {}, {}
    for i = 1, set.n4 do
        local plen = set.plen4[i]
        local t = by[plen]
        if not t then
            if #lens == MAX_HASHED_LENGTHS then
                return false
            end
            t = {}
            by[plen] = t
            lens[#lens + 1] = plen
        end
        t[set.lo[i]] = true
    end
    sort(lens, function(a, b) return a > b end)
    for i, plen in ipairs(lens) do
        set.h4[i] = by[plen]
        set.h4mod[i] = 2 ^ (32 - plen)
    end
    set.nh4 = #lens
    return true
end

-- Whether the IPv4 ranges are already sorted and disjoint (logwarden.geo's
-- packed ranges are): then there is nothing to sort, which for the tens of
-- thousands of ranges of a large country saves each worker a long pause.
local function sorted_disjoint(set)
    local lo, hi = set.lo, set.hi
    for i = 2, set.n4 do
        if lo[i] <= hi[i - 1] then
            return false
        end
    end
    return true
end

-- Sorts and merges the IPv4 ranges: disjoint, so a binary search decides.
function _M.finish(set)
    local n = set.n4
    if n > 0 and not set.ranged and hash_by_length(set) then
        set.lo, set.hi = nil, nil
    elseif n > 0 and not sorted_disjoint(set) then
        local idx = {}
        for i = 1, n do
            idx[i] = i
        end
        local lo, hi = set.lo, set.hi
        sort(idx, function(a, b) return lo[a] < lo[b] end)
        local mlo, mhi, m = {}, {}, 0
        for _, i in ipairs(idx) do
            if m > 0 and lo[i] <= mhi[m] + 1 then
                if hi[i] > mhi[m] then
                    mhi[m] = hi[i]
                end
            else
                m = m + 1
                mlo[m], mhi[m] = lo[i], hi[i]
            end
        end
        set.lo, set.hi, set.n4 = mlo, mhi, m
    end
    set.plen4 = nil
    sort(set.plens, function(a, b) return a > b end)
    set.nplens = #set.plens
    set.any6 = set.nplens > 0 or set.r6 ~= nil
    return set
end

local function contains4(set, n)
    local nh = set.nh4
    if nh > 0 then
        local nets, mods = set.h4, set.h4mod
        -- One or two lengths (a blocklist of /16s, a whitelist, a rule's
        -- /24s: the usual shapes) without a loop: a loop of one or two turns
        -- in the access check's path costs the JIT a trace of its own, and
        -- the check a jump out of its trace and back, on every request.
        if nh == 1 then
            return nets[1][n - n % mods[1]] == true
        elseif nh == 2 then
            return nets[1][n - n % mods[1]] == true or nets[2][n - n % mods[2]] == true
        end
        for i = 1, nh do
            if nets[i][n - n % mods[i]] then
                return true
            end
        end
        return false
    end
    local lo, hi = set.lo, set.hi
    local a, b = 1, set.n4
    while a <= b do
        local mid = floor((a + b) / 2)
        if n < lo[mid] then
            b = mid - 1
        elseif n > hi[mid] then
            a = mid + 1
        else
            return true
        end
    end
    return false
end
_M.contains4 = contains4

-- IPv6 ranges (logwarden.geo): is the address of `g` (eight groups) in one?
-- Each bound is kept as three numbers of 48, 48 and 32 bits (groups 1-3,
-- 4-6, 7-8), exact in a double and compared in that order; the ranges are
-- sorted and disjoint, so the last one starting at or before the address is
-- the only one that can hold it.
local function in_ranges6(r, g)
    local a = (g[1] * 65536 + g[2]) * 65536 + g[3]
    local b = (g[4] * 65536 + g[5]) * 65536 + g[6]
    local c = g[7] * 65536 + g[8]
    local la, lb, lc = r.la, r.lb, r.lc
    local lo, hi, found = 1, r.n, 0
    while lo <= hi do
        local mid = floor((lo + hi) / 2)
        local ma = la[mid]
        if ma < a or (ma == a and (lb[mid] < b or (lb[mid] == b and lc[mid] <= c))) then
            found, lo = mid, mid + 1
        else
            hi = mid - 1
        end
    end
    if found == 0 then
        return false
    end
    local ha, hb = r.ha[found], r.hb[found]
    return a < ha or (a == ha and (b < hb or (b == hb and c <= r.hc[found])))
end

-- cache: optional, see ip.net6. Callers test set.any6 first.
local function contains6(set, groups, cache)
    local plens, v6 = set.plens, set.v6
    local net6 = ip.net6
    for i = 1, set.nplens do
        local plen = plens[i]
        if v6[plen][net6(groups, plen, cache)] then
            return true
        end
    end
    local r = set.r6
    return r ~= nil and in_ranges6(r, groups)
end
_M.contains6 = contains6

-- family 4: parsed is the address as an integer; 6: its eight groups.
function _M.contains(set, family, parsed)
    if family == 4 then
        return set.n4 > 0 and contains4(set, parsed)
    end
    return set.any6 and contains6(set, parsed)
end

_M.EMPTY = _M.finish(_M.new())

return _M
