-- logwarden.routes: the protected-route step of the access check
-- (logwarden.access, step 4): which route a request falls under, and whether
-- its credentials pass. Routes come compiled and indexed by first path
-- segment from logwarden.rules; credentials are checked against the salted
-- hash the rule set carries (logwarden.credential), and a success is cached
-- per worker, so a legitimate client pays the KDF once, not per request.

local lrucache = require "resty.lrucache"
local rules = require "logwarden.rules"
local glob = require "logwarden.glob"
local credential = require "logwarden.credential"

local sha1_bin = ngx.sha1_bin
local decode_base64 = ngx.decode_base64
local str_match = string.match
local path_match = glob.path_match
local route_order = rules.route_order

local _M = { _VERSION = "0.1" }

-- Verified credentials, per worker. Keyed by a digest of (hash, credentials),
-- so a changed hash misses and no clear-text secret sits in the cache.
local verified = assert(lrucache.new(2048))
local VERIFIED_TTL = 600

local function route_matches(r, uri, method)
    return (r.method == "ALL" or r.method == method) and path_match(r.m, uri)
end

-- The first two without a loop: a loop of a turn or two in the access
-- check's path aborts the JIT's trace of the whole check (see
-- glob.first_path).
local function first_route(list, uri, method)
    local n = #list
    if n == 0 then
        return nil
    end
    local r = list[1]
    if route_matches(r, uri, method) then
        return r
    end
    if n == 1 then
        return nil
    end
    r = list[2]
    if route_matches(r, uri, method) then
        return r
    end
    for i = 3, n do
        r = list[i]
        if route_matches(r, uri, method) then
            return r
        end
    end
    return nil
end

-- The most specific route of an index (rules.lua) the request falls under:
-- `seg` is the request path's first segment.
function _M.find(ix, uri, seg, method)
    local bucket = ix.by_seg[seg]
    local a = bucket and first_route(bucket, uri, method)
    local b = ix.has_any and first_route(ix.any, uri, method)
    if a and b then
        return route_order(a, b) and a or b
    end
    return a or b
end

-- Checks the request's Authorization header (`auth`, nil when absent)
-- against a route. Returns nil when the credentials pass, else whether some
-- were given (true: bad) or none (false).
function _M.refused_by(r, auth)
    local secret
    if auth then
        if r.basic then
            local b64 = str_match(auth, "^[Bb][Aa][Ss][Ii][Cc] +([A-Za-z0-9+/=]+) *$")
            secret = b64 and decode_base64(b64)
        else
            secret = str_match(auth, "^[Bb][Ee][Aa][Rr][Ee][Rr] +([%w%-%._~%+/]+=*) *$")
        end
    end
    if not secret then
        return false
    end
    local key = sha1_bin(r.hash_text .. "\0" .. secret)
    if verified:get(key) then
        return nil
    end
    if credential.verify(secret, r.hash) then
        verified:set(key, true, VERIFIED_TTL)
        return nil
    end
    return true
end

return _M
