-- logwarden.ip: parses and normalises IPv4/IPv6 addresses and CIDR blocks.
--
-- One canonical text per address, so the control endpoint and the access
-- check derive the same shared-dict key from any spelling of it:
--   IPv4            dotted decimal without leading zeros   "203.0.113.7"
--   IPv6            eight 4-digit lower-case hex groups    "2001:0db8:0000:...:0001"
--   IPv4-mapped     treated as the IPv4 address            "::ffff:10.1.2.3" -> "10.1.2.3"
-- nginx's $remote_addr is already canonical dotted IPv4, so the hot path of
-- the access check never parses an IPv4 address unless ranges exist.

local tonumber = tonumber
local floor = math.floor
local str_find = string.find
local str_match = string.match
local str_sub = string.sub
local str_byte = string.byte
local str_format = string.format
local str_gmatch = string.gmatch

local _M = { _VERSION = '0.1.0' }

-- Returns the address as an integer (0 .. 2^32-1), or nil. Leading zeros are
-- refused: "010.0.0.1" means octal to some parsers and decimal to others.
-- A byte loop, not a pattern: it runs per request (whitelist, ranges), and
-- this way allocates nothing.
local function parse_v4(s)
    local len = #s
    if len < 7 or len > 15 then
        return nil
    end
    local n, part, digits, dots = 0, 0, 0, 0
    local lead_zero = false
    for i = 1, len do
        local c = str_byte(s, i)
        if c == 46 then
            if digits == 0 then
                return nil
            end
            n = n * 256 + part
            part, digits, dots = 0, 0, dots + 1
        elseif c >= 48 and c <= 57 then
            if digits == 0 then
                lead_zero = c == 48
            elseif lead_zero then
                return nil
            end
            part = part * 10 + c - 48
            digits = digits + 1
            if part > 255 then
                return nil
            end
        else
            return nil
        end
    end
    if dots ~= 3 or digits == 0 then
        return nil
    end
    return n * 256 + part
end
_M.parse_v4 = parse_v4

local function v4_text(n)
    return str_format("%d.%d.%d.%d", floor(n / 16777216), floor(n / 65536) % 256,
        floor(n / 256) % 256, n % 256)
end
_M.v4_text = v4_text

local function fields(part, out, v4_last)
    if part == "" then
        return true
    end
    local list = {}
    for f in str_gmatch(part .. ":", "([^:]*):") do
        list[#list + 1] = f
    end
    for i, f in ipairs(list) do
        if v4_last and i == #list and str_find(f, ".", 1, true) then
            local v = parse_v4(f)
            if not v then
                return false
            end
            out[#out + 1] = floor(v / 65536)
            out[#out + 1] = v % 65536
        elseif str_match(f, "^%x%x?%x?%x?$") then
            out[#out + 1] = tonumber(f, 16)
        else
            return false
        end
    end
    return true
end

-- Returns the eight 16-bit groups of an IPv6 address, or nil.
local function parse_v6(s)
    if #s < 2 or #s > 45 then
        return nil
    end
    local dc = str_find(s, "::", 1, true)
    local head, tail = {}, {}
    if dc then
        if str_find(s, "::", dc + 1, true) then
            return nil
        end
        if not fields(str_sub(s, 1, dc - 1), head, false)
            or not fields(str_sub(s, dc + 2), tail, true) then
            return nil
        end
        if #head + #tail > 7 then
            return nil
        end
        for _ = 1, 8 - #head - #tail do
            head[#head + 1] = 0
        end
        for _, g in ipairs(tail) do
            head[#head + 1] = g
        end
    else
        if not fields(s, head, true) or #head ~= 8 then
            return nil
        end
    end
    return head
end
_M.parse_v6 = parse_v6

local function is_mapped(g)
    return g[1] == 0 and g[2] == 0 and g[3] == 0 and g[4] == 0 and g[5] == 0 and g[6] == 0xffff
end

local function v6_text(g)
    return str_format("%04x:%04x:%04x:%04x:%04x:%04x:%04x:%04x",
        g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8])
end
_M.v6_text = v6_text

-- Keeps the first plen bits of the groups.
local function mask6(g, plen)
    local out = {}
    for i = 1, 8 do
        local bits = plen - (i - 1) * 16
        if bits >= 16 then
            out[i] = g[i]
        elseif bits <= 0 then
            out[i] = 0
        else
            local m = 2 ^ (16 - bits)
            out[i] = g[i] - g[i] % m
        end
    end
    return out
end
_M.mask6 = mask6

-- The canonical text of the /plen network of an address's groups, as the
-- IPv6 sets key it. `cache` (optional, one per client address) keeps each
-- prefix length's text: formatting it costs two allocations.
function _M.net6(g, plen, cache)
    local t = cache and cache[plen]
    if not t then
        t = v6_text(mask6(g, plen))
        if cache then
            cache[plen] = t
        end
    end
    return t
end

-- Normalises a client address. Returns key, family (4 or 6), and the parsed
-- form (integer for IPv4, groups for IPv6); nil, "reason" when unparsable.
function _M.normalise(s)
    if not str_find(s, ":", 1, true) then
        local n = parse_v4(s)
        if not n then
            return nil, "not an IP address"
        end
        return v4_text(n), 4, n
    end
    local g = parse_v6(s)
    if not g then
        return nil, "not an IP address"
    end
    if is_mapped(g) then
        local n = g[7] * 65536 + g[8]
        return v4_text(n), 4, n
    end
    return v6_text(g), 6, g
end

-- Parses "addr" or "addr/plen". Returns a table:
--   { family = 4|6, text = canonical, exact = true|false,
--     key = canonical address (exact only),
--     lo, hi (IPv4 range as integers), plen, net (IPv6: masked groups text),
--     masked = true when host bits were set }
-- or nil, "reason". Host bits below the prefix are cleared ("10.1.2.3/8"
-- means 10.0.0.0/8, masked); a security_filter rule refuses such an entry
-- (logwarden.filter_validate), a block takes it. A /32 (IPv4) or /128 (IPv6)
-- is an exact address.
function _M.parse_block(s)
    if type(s) ~= "string" or #s == 0 or #s > 64 then
        return nil, "not an IP address or CIDR block"
    end
    local addr, plen = str_match(s, "^([^/]+)/(%d+)$")
    if not addr then
        addr = s
    else
        if #plen > 3 or (#plen > 1 and str_sub(plen, 1, 1) == "0") then
            return nil, "bad prefix length"
        end
        plen = tonumber(plen)
    end
    local key, family, parsed = _M.normalise(addr)
    if not key then
        return nil, "not an IP address or CIDR block"
    end
    if family == 4 and str_find(addr, ":", 1, true) and plen then
        -- ::ffff:a.b.c.d/n is the IPv4 block a.b.c.d/(n-96).
        if plen < 96 then
            return nil, "an IPv4-mapped block needs a prefix of at least 96"
        end
        plen = plen - 96
    end
    local max = family == 4 and 32 or 128
    if plen == nil then
        plen = max
    elseif plen > max then
        return nil, "prefix length above " .. max
    end
    if plen == max then
        return { family = family, exact = true, key = key, text = key, plen = plen }
    end
    if family == 4 then
        local size = 2 ^ (32 - plen)
        local lo = parsed - parsed % size
        return { family = 4, exact = false, lo = lo, hi = lo + size - 1, plen = plen,
                 text = v4_text(lo) .. "/" .. plen, masked = lo ~= parsed }
    end
    local g = mask6(parsed, plen)
    local net = v6_text(g)
    local masked = false
    for i = 1, 8 do
        if g[i] ~= parsed[i] then
            masked = true
        end
    end
    return { family = 6, exact = false, plen = plen, net = net, text = net .. "/" .. plen, masked = masked }
end

return _M
