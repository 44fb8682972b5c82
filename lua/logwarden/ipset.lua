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
             h4 = {}, h4mod = {}, nh4 = 0 }
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

-- Sorts and merges the IPv4 ranges: disjoint, so a binary search decides.
function _M.finish(set)
    local n = set.n4
    if n > 0 and not set.ranged and hash_by_length(set) then
        set.lo, set.hi = nil, nil
    elseif n > 0 then
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
    return set
end

local function contains4(set, n)
    local nh = set.nh4
    if nh > 0 then
        local nets, mods = set.h4, set.h4mod
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

-- cache: optional, see ip.net6.
local function contains6(set, groups, cache)
    local plens, v6 = set.plens, set.v6
    local net6 = ip.net6
    for i = 1, set.nplens do
        local plen = plens[i]
        if v6[plen][net6(groups, plen, cache)] then
            return true
        end
    end
    return false
end
_M.contains6 = contains6

-- family 4: parsed is the address as an integer; 6: its eight groups.
function _M.contains(set, family, parsed)
    if family == 4 then
        return set.n4 > 0 and contains4(set, parsed)
    end
    return set.nplens > 0 and contains6(set, parsed)
end

_M.EMPTY = _M.finish(_M.new())

return _M
