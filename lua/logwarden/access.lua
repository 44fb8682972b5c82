-- logwarden.access: the per-request check, for access_by_lua.
--
--     access_by_lua_block { require("logwarden.access").check() }
--
-- Order: whitelist (addresses, CIDR blocks, paths) -> blocked address (one
-- shared-dict lookup of the exact normalised address) -> blocked ranges.
-- A refused request gets 403 with a JSON body and $logwarden_blocked_by set to
-- "blocklist" for the access log.
--
-- Ranges and the whitelist are few and change rarely, so each worker keeps
-- them in Lua tables (IPv4 ranges merged and sorted for a binary search, IPv6
-- blocks as one hash set per prefix length) and rebuilds them when the
-- version counter in the rules dict moves or the first of them expires. That
-- costs each request one dict read of the counter, whatever the number of
-- ranges, instead of one lookup per possible prefix length.

local cjson = require "cjson.safe"
local ip = require "logwarden.ip"
local state = require "logwarden.state"

local ngx = ngx
local ngx_var = ngx.var
local ngx_now = ngx.now
local ngx_log = ngx.log
local ngx_exit = ngx.exit
local ngx_print = ngx.print
local ngx_header = ngx.header
local ERR = ngx.ERR
local HTTP_OK = ngx.HTTP_OK
local str_find = string.find
local str_sub = string.sub
local floor = math.floor
local huge = math.huge
local sort = table.sort

local _M = { _VERSION = '0.1.0' }

local PREFIX_IP = state.PREFIX_IP
local PREFIX_RANGE = state.PREFIX_RANGE
local KEY_RANGES_VERSION = state.KEY_RANGES_VERSION
local KEY_WHITELIST = state.KEY_WHITELIST

local blocks, rules = state.dicts()

-- TEST ONLY. nginx passes a worker only the environment variables its config
-- names with the `env` directive; infra/nginx/test.conf.template sets this one
-- so that a test on loopback can speak for other client addresses. The shipped
-- snippets never set it: in production the client is $remote_addr (give nginx
-- real_ip_header/set_real_ip_from if a proxy sits in front).
local test_client_var
do
    local h = os.getenv("LOGWARDEN_TEST_CLIENT_IP_HEADER")
    if h and h ~= "" then
        test_client_var = "http_" .. h:lower():gsub("-", "_")
        ngx_log(ngx.WARN, "logwarden.access: TEST MODE, client address taken from header ", h)
    end
end

local DENY_BODY = '{"error":"forbidden","blocked_by":"blocklist"}\n'

-- A set of IPv4 ranges and IPv6 blocks.
local function new_set()
    return { lo = {}, hi = {}, n4 = 0, v6 = {}, plens = {}, size = 0 }
end

local function set_add(set, b)
    set.size = set.size + 1
    if b.family == 4 then
        local lo = b.lo or ip.parse_v4(b.key)
        local hi = b.hi or lo
        set.n4 = set.n4 + 1
        set.lo[set.n4] = lo
        set.hi[set.n4] = hi
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

-- Sorts and merges the IPv4 ranges: disjoint, so a binary search decides.
local function set_finish(set)
    local n = set.n4
    if n > 0 then
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
    sort(set.plens, function(a, b) return a > b end)
    return set
end

local function contains4(set, n)
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

local function contains6(set, groups)
    for _, plen in ipairs(set.plens) do
        if set.v6[plen][ip.v6_text(ip.mask6(groups, plen))] then
            return true
        end
    end
    return false
end

local function contains(set, family, parsed)
    if family == 4 then
        return set.n4 > 0 and contains4(set, parsed)
    end
    return #set.plens > 0 and contains6(set, parsed)
end

local EMPTY = set_finish(new_set())

-- This worker's copy of the ranges and the whitelist.
local cache = {
    version = {},          -- matches no counter value: first request builds
    next_expiry = huge,
    ranges = EMPTY,
    wl_ips = EMPTY,
    wl_exact = {},         -- paths
    wl_prefix = {},        -- path prefixes (entries ending in "*")
    wl_any = false,
}

local function rebuild(version)
    local now = ngx_now()
    local ranges = new_set()
    local next_expiry = huge
    local keys = rules:get_keys(0)
    for _, key in ipairs(keys) do
        if str_sub(key, 1, 2) == PREFIX_RANGE then
            local b = ip.parse_block(str_sub(key, 3))
            local ttl = rules:ttl(key)
            if b and ttl then
                set_add(ranges, b)
                if ttl > 0 and now + ttl < next_expiry then
                    next_expiry = now + ttl
                end
            end
        end
    end

    local wl_ips, wl_exact, wl_prefix = new_set(), {}, {}
    local raw = rules:get(KEY_WHITELIST)
    if raw then
        local wl = cjson.decode(raw)
        if type(wl) ~= "table" then
            ngx_log(ERR, "logwarden.access: ignoring an unreadable whitelist")
        else
            for _, s in ipairs(type(wl.ips) == "table" and wl.ips or {}) do
                local b = ip.parse_block(s)
                if b then
                    set_add(wl_ips, b)
                end
            end
            for _, p in ipairs(type(wl.paths) == "table" and wl.paths or {}) do
                if str_sub(p, -1) == "*" then
                    wl_prefix[#wl_prefix + 1] = str_sub(p, 1, -2)
                else
                    wl_exact[p] = true
                end
            end
        end
    end

    cache.ranges = set_finish(ranges)
    cache.wl_ips = set_finish(wl_ips)
    cache.wl_exact = wl_exact
    cache.wl_prefix = wl_prefix
    cache.wl_any = wl_ips.size > 0 or next(wl_exact) ~= nil or #wl_prefix > 0
    cache.next_expiry = next_expiry
    cache.version = version
end

local function refresh()
    local v = rules:get(KEY_RANGES_VERSION)
    if v ~= cache.version or ngx_now() >= cache.next_expiry then
        rebuild(v)
    end
end
_M.refresh = refresh

local function whitelisted(family, parsed)
    if contains(cache.wl_ips, family, parsed) then
        return true
    end
    if next(cache.wl_exact) == nil and #cache.wl_prefix == 0 then
        return false
    end
    local uri = ngx_var.uri
    if cache.wl_exact[uri] then
        return true
    end
    for _, p in ipairs(cache.wl_prefix) do
        if str_find(uri, p, 1, true) == 1 then
            return true
        end
    end
    return false
end

local function deny()
    ngx_var.logwarden_blocked_by = "blocklist"
    ngx.status = 403
    ngx_header["Content-Type"] = "application/json"
    ngx_header["Cache-Control"] = "no-store"
    ngx_print(DENY_BODY)
    -- Ends the request (ngx.exit(ngx.OK) would only end the access phase).
    return ngx_exit(HTTP_OK)
end

function _M.check()
    local addr = ngx_var.remote_addr
    if test_client_var then
        addr = ngx_var[test_client_var] or addr
    end

    -- $remote_addr is canonical dotted IPv4 already: parse only when needed.
    local key, family, parsed = addr, 4, nil
    if str_find(addr, ":", 1, true) then
        key, family, parsed = ip.normalise(addr)
        if not key then
            ngx_log(ERR, "logwarden.access: cannot parse client address ", addr)
            return
        end
    end

    refresh()

    if cache.wl_any then
        if family == 4 and not parsed then
            parsed = ip.parse_v4(key)
        end
        if parsed and whitelisted(family, parsed) then
            return
        end
    end

    if blocks:get(PREFIX_IP .. key) ~= nil then
        return deny()
    end

    local ranges = cache.ranges
    if family == 4 then
        if ranges.n4 > 0 then
            parsed = parsed or ip.parse_v4(key)
            if parsed and contains4(ranges, parsed) then
                return deny()
            end
        end
    elseif #ranges.plens > 0 and contains6(ranges, parsed) then
        return deny()
    end
end

-- For init_worker_by_lua: loads the module before the first request.
function _M.init_worker()
    return true
end

-- Counts for /status, from this worker's structure.
function _M.counts()
    refresh()
    return cache.ranges.size, cache.wl_ips.size
end

return _M
