-- logwarden.access: the per-request check, for access_by_lua.
--
--     access_by_lua_block { require("logwarden.access").check() }
--
-- In order, the first that decides ends the check:
--   1. whitelist (addresses, CIDR blocks, paths): the node-wide one, then
--      the deployment's own ($logwarden_deployment)        -> allowed, nothing else checked
--   2. blocked address (one shared-dict lookup), ranges   -> 403 "blocklist"
--      challenged address or range                        -> the challenge page until passed
--   3. deployment policy ($logwarden_deployment):
--        allowed_ips                                      -> 403 "policy:allowed_ips"
--        blocked_paths                                    -> 403 "policy:blocked_path"
--        rate_limit per client address                    -> 429 + Retry-After, "rate_limit"
--   4. protected routes                                   -> 401 + WWW-Authenticate, "route:<id>"
--   5. security_filter                                    -> BLOCK: block_http_status, "filter:<id>";
--                                                            CHALLENGE: as 2; WARN: $security_filter_alert
-- A refusal sets $logwarden_blocked_by for the access log and answers a small
-- JSON body.
--
-- Three things change without a reload: the blocked addresses, the blocked
-- ranges (v:ranges) and the rule set (g:rules, a NodeRules document stored
-- whole by PUT /rules). Every writer then moves one counter, g:state, and
-- that is the one shared-dict read a request makes before its own address's
-- entry: while it stands still, a worker uses its compiled copies of the
-- ranges and the rule set and its memory of addresses found not blocked
-- (the blocks dict holds 100k+ entries: a lookup there walks a deep tree in
-- shared memory under a lock, the costliest step of a clean request). When it
-- moves, the worker looks at the two specific counters and rebuilds what
-- changed. A request uses one compiled rule set from start to end: the old
-- one or the new one, never a mix. Everything else per request is read
-- lazily: a variable is fetched only when a configured check needs it, and
-- once.

local cjson = require "cjson.safe"
local ip = require "logwarden.ip"
local ipset = require "logwarden.ipset"
local state = require "logwarden.state"
local rules_mod = require "logwarden.rules"
local filter = require "logwarden.filter"
local glob = require "logwarden.glob"
local routes = require "logwarden.routes"
local checked = require "logwarden.checked"
local challenge = require "logwarden.challenge"

local ngx = ngx
local ngx_var = ngx.var
local ngx_now = ngx.now
local ngx_log = ngx.log
local ngx_exit = ngx.exit
local ngx_print = ngx.print
local ngx_header = ngx.header
local ngx_req = ngx.req
local ERR = ngx.ERR
local HTTP_OK = ngx.HTTP_OK
local str_find = string.find
local str_sub = string.sub
local floor = math.floor
local huge = math.huge
local ipairs = ipairs
local pcall = pcall

local contains4 = ipset.contains4
local contains6 = ipset.contains6
local parse_v4 = ip.parse_v4
local normalise = ip.normalise
local first_path = glob.first_path
local first_prefix = glob.first_prefix
local count_checked = checked.add

-- Reads an nginx variable: every read in this module goes through here.
-- resty.core's ngx.var getter ends in a tail call to ffi.string, which the
-- JIT cannot compile when a trace starts at the getter itself, and it starts
-- there when interpreted code reads variables often (this check before it is
-- compiled, or once a trace of it aborted): after a dozen such aborts the
-- getter is blacklisted, and then every trace that reads ngx.var anywhere in
-- the worker aborts with it: the whole check runs interpreted for the life
-- of the worker, at 2-5 times the cost. This small function compiles at once
-- with the getter inlined, so the getter is never run interpreted often
-- enough to become hot by itself.
local function var_get(name)
    local v = ngx_var[name]
    return v
end

local _M = { _VERSION = '0.2.0' }

local PREFIX_IP = state.PREFIX_IP
local PREFIX_RANGE = state.PREFIX_RANGE
local PREFIX_CH_IP, PREFIX_CH_RANGE = state.PREFIX_CHALLENGE_IP, state.PREFIX_CHALLENGE_RANGE
local KEY_RANGES_VERSION = state.KEY_RANGES_VERSION
local KEY_RULES_GEN = state.KEY_RULES_GEN
local KEY_RULES_DOC = state.KEY_RULES_DOC
local KEY_STATE_GEN = state.KEY_STATE_GEN

local blocks, rules, limits = state.dicts()

-- Where the client's country comes from: an nginx variable holding an ISO
-- code (set it from the geoip2 module or a trusted CDN header:
-- `set $logwarden_country $geoip2_data_country_code;`). configure() changes
-- the variable's name.
local country_var = "logwarden_country"

local BODIES = {
    [401] = '{"error":"unauthorized","blocked_by":"',
    [403] = '{"error":"forbidden","blocked_by":"',
    [429] = '{"error":"too many requests","blocked_by":"',
}
local BODY_OTHER = '{"error":"blocked","blocked_by":"'
local BODY_END = '"}\n'

---------------------------------------------------------------------------
-- Per-worker state

-- Blocked and challenged ranges, rebuilt when v:ranges moves or the first of them expires.
local ranges_cache = { version = {}, next_expiry = huge, set = ipset.EMPTY, cset = ipset.EMPTY }

local function rebuild_ranges(version)
    local now = ngx_now()
    local set, cset = ipset.new(), ipset.new()
    local next_expiry = huge
    for _, key in ipairs(rules:get_keys(0)) do
        local p = str_sub(key, 1, 2)
        if p == PREFIX_RANGE or p == PREFIX_CH_RANGE then
            local b = ip.parse_block(str_sub(key, 3))
            local ttl = rules:ttl(key)
            if b and ttl then
                ipset.add(p == PREFIX_RANGE and set or cset, b)
                if ttl > 0 and now + ttl < next_expiry then
                    next_expiry = now + ttl
                end
            end
        end
    end
    ranges_cache.set, ranges_cache.cset = ipset.finish(set), ipset.finish(cset)
    ranges_cache.next_expiry = next_expiry
    ranges_cache.version = version
end

-- The compiled rule set, rebuilt when g:rules moves.
local EMPTY_RULES = rules_mod.empty()
local rules_cache = { gen = {}, R = EMPTY_RULES }

local function rebuild_rules(gen)
    local raw = rules:get(KEY_RULES_DOC)
    if raw == nil then
        rules_cache.R, rules_cache.gen = EMPTY_RULES, gen
        return
    end
    local doc = cjson.decode(raw)
    local ok, R = pcall(rules_mod.compile, doc)
    if not ok or type(doc) ~= "table" then
        -- Stored only after validation: this is a bug, not bad input. Keep
        -- enforcing the previous set rather than none.
        ngx_log(ERR, "logwarden.access: cannot compile the stored rule set, keeping the previous one: ", R)
        rules_cache.gen = gen
        return
    end
    rules_cache.R, rules_cache.gen = R, gen
end

-- Addresses found not blocked since g:state last moved, per worker, so that a
-- returning client costs a table lookup instead of a blocks-dict lookup.
-- Only "not blocked" is remembered: that stays true when a block expires or
-- is evicted, and any new block moves g:state, which empties this. Bounded:
-- emptied when full (a miss costs only the lookup it replaces).
local NOT_BLOCKED_MAX = 20000
local not_blocked, not_blocked_n = {}, 0

-- g:state as last seen ({}: never equal to a stored value, nil included).
local state_gen = {}

local function refresh(g)
    state_gen = g
    not_blocked, not_blocked_n = {}, 0
    local v = rules:get(KEY_RANGES_VERSION)
    if v ~= ranges_cache.version or ngx_now() >= ranges_cache.next_expiry then
        rebuild_ranges(v)
    end
    local rg = rules:get(KEY_RULES_GEN)
    if rg ~= rules_cache.gen then
        rebuild_rules(rg)
    end
end

local function current()
    local g = rules:get(KEY_STATE_GEN)
    -- No counter (evicted from a full dict, and its re-creation failed): nothing can tell
    -- this worker of a change, so it keeps nothing across requests rather than keep a
    -- "not blocked" answer a new block should have ended.
    -- (The clock is read only while some range has an expiry to wait for.)
    local expiry = ranges_cache.next_expiry
    if g == nil or g ~= state_gen or (expiry ~= huge and ngx_now() >= expiry) then
        refresh(g)
    end
    return rules_cache.R
end

---------------------------------------------------------------------------
-- The request being checked. Module-level so the filter's getters need no
-- closure per request; nothing between setting and reading them yields.

local req_key, req_family, req_parsed, req_valid, req_net6

local function client()
    if not req_valid then
        return nil
    end
    if req_family == 4 and not req_parsed then
        req_parsed = parse_v4(req_key)
    end
    return req_family, req_parsed, req_parsed, req_net6
end

local function get_ua()
    return var_get("http_user_agent")
end

local function get_country()
    return var_get(country_var)
end

-- Clients whose address has a ":" (IPv6, IPv4-mapped, or not an address),
-- per worker: normalising one and formatting its networks for the IPv6 sets
-- allocates a dozen objects, which a returning client is spared. A pure
-- function of the address, so nothing invalidates it; bounded, emptied when
-- full.
local V6_CLIENTS_MAX = 4096
local v6_clients, v6_clients_n = {}, 0

local function v6_client(addr)
    local c = v6_clients[addr]
    if c == nil then
        local key, family, parsed = normalise(addr)
        c = false
        if key then
            -- net6: ip.net6's cache of this address's network texts.
            c = { key = key, family = family, parsed = parsed, net6 = family == 6 and {} or nil }
        end
        if v6_clients_n >= V6_CLIENTS_MAX then
            v6_clients, v6_clients_n = {}, 0
        end
        v6_clients[addr] = c
        v6_clients_n = v6_clients_n + 1
    end
    return c
end

local function deny(status, by, headers)
    ngx_var.logwarden_blocked_by = by
    ngx.status = status
    ngx_header["Content-Type"] = "application/json"
    ngx_header["Cache-Control"] = "no-store"
    if headers then
        for k, v in pairs(headers) do
            ngx_header[k] = v
        end
    end
    ngx_print((BODIES[status] or BODY_OTHER) .. by .. BODY_END)
    -- Ends the request (ngx.exit(ngx.OK) would only end the access phase).
    return ngx_exit(HTTP_OK)
end

-- The client's own entry in the blocks dict, for a client this worker does
-- not remember as not blocked (see not_blocked): true (blocked), "challenge"
-- or false. An IPv4 client is remembered with its address as an integer,
-- which spares the next request parsing it. A challenged one is not remembered.
local function address_blocked()
    local key = req_key
    if blocks:get(PREFIX_IP .. key) ~= nil then
        return true
    end
    if blocks:get(PREFIX_CH_IP .. key) ~= nil then
        return "challenge"
    end
    local value = true
    if req_family == 4 then
        if not req_parsed then
            req_parsed = parse_v4(key)
        end
        value = req_parsed or true
    end
    if not_blocked_n >= NOT_BLOCKED_MAX then
        not_blocked, not_blocked_n = {}, 0
    end
    not_blocked[key] = value
    not_blocked_n = not_blocked_n + 1
    return false
end

local function in_set(set)
    if not req_valid then
        return false
    end
    if req_family == 4 then
        if set.n4 == 0 then
            return false
        end
        if not req_parsed then
            req_parsed = parse_v4(req_key)
        end
        return contains4(set, req_parsed)
    end
    return set.any6 and contains6(set, req_parsed, req_net6)
end

-- `exact`: a set of whole paths; `prefixes`: a list of path prefixes.
local function whitelisted_path(exact, prefixes, uri)
    if exact[uri] then
        return true
    end
    return first_prefix(prefixes, uri)
end

-- Sliding-window estimate over two one-second counters (atomic incr in a
-- shared dict, so every worker counts the same client): the previous second
-- weighted by how much of it still overlaps the last 1 s, plus this second.
-- A burst at a second boundary cannot pass twice the rate, as a plain fixed
-- window would let it.
local function over_rate(dep, rate)
    local now = ngx_now()
    local sec = floor(now)
    local base = "l:" .. dep .. "|" .. req_key .. "|"
    local cur, err = limits:incr(base .. sec, 1, 0, 2)
    if not cur then
        -- Dict full or broken: let the request through, loudly.
        ngx_log(ERR, "logwarden.access: rate_limit counter not stored: ", err)
        return false
    end
    local prev = limits:get(base .. (sec - 1)) or 0
    return prev * (1 - (now - sec)) + cur > rate
end

local RETRY_AFTER = { ["Retry-After"] = "1" }

---------------------------------------------------------------------------

function _M.check()
    count_checked()
    local addr = var_get("remote_addr")

    -- First: a change empties what the worker remembers of clients.
    local R = current()

    -- $remote_addr is canonical dotted IPv4 already: parse only when needed.
    req_key, req_family, req_parsed, req_valid, req_net6 = addr, 4, nil, true, nil
    -- nil: not known to be not blocked; else true or the IPv4 integer.
    local known
    if str_find(addr, ":", 1, true) then
        local c = v6_client(addr)
        if c then
            req_key, req_family, req_parsed, req_net6 = c.key, c.family, c.parsed, c.net6
            known = not_blocked[req_key]
        else
            -- Not an address ("unix:", a client on a unix socket): nothing
            -- that needs one can match it.
            req_valid = false
        end
    else
        known = not_blocked[addr]
        if known and known ~= true then
            req_parsed = known
        end
    end

    -- $uri, read once when some check needs it.
    local uri

    -- 1. whitelist
    if R.wl_any then
        if in_set(R.wl_ips) then
            return
        end
        if R.wl_paths then
            uri = var_get("uri")
            if whitelisted_path(R.wl_exact, R.wl_prefix, uri) then
                return
            end
        end
    end
    local dep
    if R.has_dep_wl then
        dep = var_get("logwarden_deployment") or ""
        local w = R.dep_wl[dep]
        if w then
            if in_set(w.ips) then
                return
            end
            if w.paths then
                uri = uri or var_get("uri")
                if whitelisted_path(w.exact, w.prefix, uri) then
                    return
                end
            end
        end
    end

    -- 2. blocklist, then challenges (challenge.pass ends the request unless the client passes)
    local passed
    if req_valid then
        local hit = not known and address_blocked()
        if hit == true or in_set(ranges_cache.set) then
            return deny(403, "blocklist")
        end
        if hit or in_set(ranges_cache.cset) then
            passed = challenge.pass(req_key, "decision")
        end
    end

    -- 3. deployment policy
    if R.has_policies then
        dep = dep or var_get("logwarden_deployment") or ""
        local pol = R.policies[dep]
        if pol then
            if pol.allowed and not in_set(pol.allowed) then
                return deny(403, "policy:allowed_ips")
            end
            local blocked = pol.blocked
            if blocked then
                uri = uri or var_get("uri")
                if first_path(blocked, uri) then
                    return deny(403, "policy:blocked_path")
                end
            end
            if pol.rate > 0 and over_rate(dep, pol.rate) then
                return deny(429, "rate_limit", RETRY_AFTER)
            end
        end
    end

    -- 4. protected routes: the deployment's own, then those for every deployment
    if R.has_routes then
        uri = uri or var_get("uri")
        local method = ngx_req.get_method()
        local slash = str_find(uri, "/", 2, true)
        local seg = str_sub(uri, 2, (slash or #uri + 1) - 1)
        local own
        if R.has_dep_routes then
            dep = dep or var_get("logwarden_deployment") or ""
            own = R.routes_for[dep]
        end
        local route = own and routes.find(own, uri, seg, method) or routes.find(R.routes_all, uri, seg, method)
        local r, bad
        if route then
            bad = routes.refused_by(route, var_get("http_authorization"))
            if bad ~= nil then
                r = route
            end
        end
        if r then
            local challenge = r.challenge
            if bad and not r.basic then
                challenge = challenge .. ', error="invalid_token"'
            end
            return deny(401, r.blocked_by, { ["WWW-Authenticate"] = challenge })
        end
    end

    -- 5. security_filter
    local f = R.filter
    if f then
        -- Without domain or host-bound path levels the host decides nothing.
        local level = filter.level_for(f, f.needs_host and var_get("host") or "", uri or var_get("uri"))
        if level then
            local action, rule = filter.evaluate(level, get_ua, get_country, client)
            if action == "block" then
                return deny(rule.status, rule.blocked_by)
            elseif action == "challenge" then
                if not passed and req_valid then
                    challenge.pass(req_key, rule.blocked_by)
                end
            elseif action == "warn" then
                ngx_var.security_filter_alert = rule.id
            end
        end
    end
end

-- For init_worker_by_lua: loads the module before the first request.
-- opts.country_var: the nginx variable holding the client's country code.
function _M.init_worker(opts)
    if opts and opts.country_var then
        country_var = opts.country_var
    end
    return true
end

-- Counts for /status, from this worker's structures.
function _M.counts()
    local R = current()
    return ranges_cache.set.size, R.counts, R.version
end

return _M
