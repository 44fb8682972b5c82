-- logwarden.control: the control endpoint the enforcer calls, for
-- content_by_lua on its own listener (conf/logwarden-control.conf).
--
--   GET  /status      {"epoch":..,"blocks":N,"ranges":N,"whitelist":N,
--                      "rules_version":N,"ranges_version":N,"forcible":N,
--                      "checked":N (requests the access check ran on, all
--                      workers, up to a second behind),"hostname":"..",
--                      "challenges":N,"challenge":{..}}
--   POST /blocks      {"set":[{"ip":"203.0.113.7"|"10.0.0.0/8","ttl":3600,"reason":"..",
--                              "action":"block"|"challenge"}],       (action: block when absent)
--                      "delete":["203.0.113.7","10.0.0.0/8"]}
--                     An address or range holds one entry: setting a block replaces its
--                     challenge and the other way round; a delete lifts either.
--   PUT  /challenge   {"period":N,"rotation":86400,"difficulty":16,"cookie_ttl":3600}: the
--                     challenge's settings (logwarden.challenge); the node derives the
--                     period's signing keys from its own secret: no key crosses the wire
--   PUT  /rules       a NodeRules document (shared/control/node-rules.ts): whitelist,
--                     deployment policies, protected routes, security_filter;
--                     replaces the node's rule set as a whole
--   PUT  /whitelist   gone (410): the whitelist is part of /rules
--
-- Callers must be on loopback unless $logwarden_control_allow_remote is "on",
-- and sign each request with $logwarden_control_secret, which never crosses
-- the wire (shared/node-auth.ts is the other side):
--   Authorization: LW1 t=<unix seconds>,n=<random hex>,sig=<hex HMAC-SHA1(secret, t \n n \n METHOD \n uri \n body)>
-- A time more than 60 s off, or a signature already seen (a replay), is
-- refused. A payload is
-- validated whole before anything is applied: one bad entry gets a 400
-- {"error":..,"field":"set[3].ip"} and changes nothing.

local cjson = require "cjson.safe"
local bit = require "bit"
local ip = require "logwarden.ip"
local state = require "logwarden.state"
local access = require "logwarden.access"
local checked = require "logwarden.checked"
local rules_mod = require "logwarden.rules"
local validate = require "logwarden.validate"
local challenge = require "logwarden.challenge"

local ngx = ngx
local ngx_var = ngx.var
local ngx_req = ngx.req
local ngx_log = ngx.log
local ngx_say = ngx.say
local ngx_header = ngx.header
local sha1_bin = ngx.sha1_bin
local hmac_sha1 = ngx.hmac_sha1
local ngx_time = ngx.time
local str_format = string.format
local ERR = ngx.ERR
local WARN = ngx.WARN
local str_byte = string.byte
local str_find = string.find
local str_sub = string.sub
local str_match = string.match
local bxor = bit.bxor
local bor = bit.bor
local encode = cjson.encode
local null = cjson.null

local _M = { _VERSION = '0.1.0' }

-- Kept equal to client_max_body_size/client_body_buffer_size in the control
-- snippet, so a body within the limit is always in memory.
local MAX_BODY = 4 * 1024 * 1024
local MAX_ENTRIES = 10000
local MAX_TTL = 10 * 365 * 86400
local MAX_REASON = 256
local MIN_SECRET = 16

local function reply(status, body, headers)
    ngx.status = status
    ngx_header["Content-Type"] = "application/json"
    ngx_header["Cache-Control"] = "no-store"
    if headers then
        for k, v in pairs(headers) do
            ngx_header[k] = v
        end
    end
    ngx_say(encode(body) or '{"error":"cannot encode the response"}')
    return ngx.exit(ngx.HTTP_OK)
end

local function bad(err, field)
    return reply(400, { error = err, field = field })
end

local MAX_SKEW = 60
local NONCE_TTL = 2 * MAX_SKEW

local function to_hex(s)
    local out = {}
    for i = 1, #s do
        out[i] = str_format("%02x", str_byte(s, i))
    end
    return table.concat(out)
end

-- Compares digests, not the strings: constant time, and the length of the
-- secret does not leak either.
local function same_secret(given, secret)
    local a, b = sha1_bin(given), sha1_bin(secret)
    local diff = 0
    for i = 1, #a do
        diff = bor(diff, bxor(str_byte(a, i), str_byte(b, i)))
    end
    return diff == 0
end

local function loopback(addr)
    return str_sub(addr, 1, 4) == "127." or addr == "::1"
        or str_sub(addr, 1, 11) == "::ffff:127."
end


-- Returns the decoded JSON body, or nil after replying with the error.
local function read_json()
    local len = tonumber(ngx_var.http_content_length or "")
    if len and len > MAX_BODY then
        return nil, reply(413, { error = "body larger than " .. MAX_BODY .. " bytes" })
    end
    ngx_req.read_body()
    local data = ngx_req.get_body_data()
    if not data then
        if ngx_req.get_body_file() then
            return nil, reply(413, { error = "body larger than " .. MAX_BODY .. " bytes" })
        end
        return nil, bad("empty body", "")
    end
    local body = validate.decode(data)
    if type(body) ~= "table" then
        return nil, bad("body is not a JSON object", "")
    end
    return body, data
end

-- Validates a /blocks payload. Returns sets, deletes or nil, err, field.
local function validate_blocks(body)
    for k in pairs(body) do
        if k ~= "set" and k ~= "delete" then
            return nil, "unknown key", tostring(k)
        end
    end
    local sets, deletes = {}, {}
    local set, del = body.set, body.delete
    if set ~= nil then
        if not validate.is_array(set) then
            return nil, "must be an array", "set"
        end
        if #set > MAX_ENTRIES then
            return nil, "more than " .. MAX_ENTRIES .. " entries", "set"
        end
        for i, e in ipairs(set) do
            local at = "set[" .. (i - 1) .. "]"
            if not validate.is_object(e) then
                return nil, "must be an object", at
            end
            for k in pairs(e) do
                if k ~= "ip" and k ~= "ttl" and k ~= "reason" and k ~= "action" then
                    return nil, "unknown key", at .. "." .. tostring(k)
                end
            end
            local b, err = ip.parse_block(e.ip)
            if not b then
                return nil, err, at .. ".ip"
            end
            local ttl = e.ttl
            if ttl == nil or ttl == null then
                ttl = 0
            end
            if type(ttl) ~= "number" or ttl ~= ttl or ttl < 0 or ttl > MAX_TTL then
                return nil, "ttl must be a number of seconds from 0 (permanent) to " .. MAX_TTL, at .. ".ttl"
            end
            local reason = e.reason
            if reason == nil or reason == null then
                reason = ""
            end
            if type(reason) ~= "string" or #reason > MAX_REASON then
                return nil, "reason must be a string of at most " .. MAX_REASON .. " bytes", at .. ".reason"
            end
            local action = e.action
            if action == nil or action == null then
                action = "block"
            end
            if action ~= "block" and action ~= "challenge" then
                return nil, 'must be "block" or "challenge"', at .. ".action"
            end
            sets[#sets + 1] = { block = b, ttl = ttl, reason = reason, challenge = action == "challenge" }
        end
    end
    if del ~= nil then
        if not validate.is_array(del) then
            return nil, "must be an array", "delete"
        end
        if #del > MAX_ENTRIES then
            return nil, "more than " .. MAX_ENTRIES .. " entries", "delete"
        end
        for i, s in ipairs(del) do
            local b, err = ip.parse_block(s)
            if not b then
                return nil, err, "delete[" .. (i - 1) .. "]"
            end
            deletes[#deletes + 1] = b
        end
    end
    return sets, deletes
end

local function post_blocks()
    local body = read_json()
    if not body then
        return
    end
    local sets, deletes, field = validate_blocks(body)
    if not sets then
        return bad(deletes, field)
    end

    local blocks, rules = state.dicts()
    local ranges_changed = false
    local deleted, applied, forcible, failed = 0, 0, 0, {}
    -- Deletes first: an address in both lists ends up blocked.
    for _, b in ipairs(deletes) do
        if b.exact then
            blocks:delete(state.PREFIX_IP .. b.key)
            blocks:delete(state.PREFIX_CHALLENGE_IP .. b.key)
        else
            rules:delete(state.PREFIX_RANGE .. b.text)
            rules:delete(state.PREFIX_CHALLENGE_RANGE .. b.text)
            ranges_changed = true
        end
        deleted = deleted + 1
    end
    for _, s in ipairs(sets) do
        local b = s.block
        local ok, err, forced
        -- One entry per address or range: the other kind's goes.
        local own, other = state.PREFIX_IP, state.PREFIX_CHALLENGE_IP
        local rown, rother = state.PREFIX_RANGE, state.PREFIX_CHALLENGE_RANGE
        if s.challenge then
            own, other, rown, rother = other, own, rother, rown
        end
        if b.exact then
            blocks:delete(other .. b.key)
            ok, err, forced = state.set(blocks, state.BLOCKS, own .. b.key, s.reason, s.ttl)
        else
            rules:delete(rother .. b.text)
            ok, err, forced = state.set(rules, state.STATE, rown .. b.text, s.reason, s.ttl)
            ranges_changed = true
        end
        if forced then
            forcible = forcible + 1
        end
        if ok then
            applied = applied + 1
        else
            failed[#failed + 1] = { ip = b.text, error = err }
        end
    end
    if ranges_changed then
        state.bump(rules)
    elseif deleted > 0 or #sets > 0 then
        -- Workers remember which addresses are not blocked until this moves.
        state.changed(rules)
    end
    if #failed > 0 then
        ngx_log(ERR, "logwarden.control: ", #failed, " blocks not stored (shared dict full?)")
    end
    -- 507 when something was not stored: the enforcer must not believe it was.
    return reply(#failed > 0 and 507 or 200, {
        applied = applied, deleted = deleted, forcible = forcible,
        failed = #failed > 0 and failed or nil,
    })
end

-- Validated whole, then stored as one key (state.store_rules): workers switch
-- from the old set to the new one between two requests.
local function put_rules()
    local data, body = read_json()
    if not data then
        return
    end
    local ok, err, field = rules_mod.validate(data)
    if not ok then
        return bad(err, field)
    end
    -- Compiled once here too: a document that validates but cannot be built
    -- (a bug) is refused instead of leaving every worker on the old set.
    local built, compiled = pcall(rules_mod.compile, data)
    if not built then
        ngx_log(ERR, "logwarden.control: a valid rule set failed to compile: ", compiled)
        return reply(500, { error = "rule set failed to compile" })
    end
    local stored, serr = state.store_rules(body, data.version)
    if not stored then
        ngx_log(ERR, "logwarden.control: rule set not stored: ", serr)
        return reply(507, { error = "rule set not stored (make lua_shared_dict logwarden_state bigger): " .. tostring(serr) })
    end
    local c = compiled.counts
    return reply(200, {
        version = data.version, whitelist = c.whitelist, deployments = c.deployments,
        routes = c.routes, filter_rules = c.filter_rules,
    })
end

local function put_challenge()
    local data = read_json()
    if not data then
        return
    end
    local ok, err, field = challenge.set_keys(data, ngx_var.logwarden_control_secret)
    if not ok then
        return bad(err, field)
    end
    return reply(200, challenge.status())
end

local function put_whitelist()
    return reply(410, { error = "PUT /whitelist is gone: the whitelist is part of the rule set, PUT /rules" })
end

local function count(dict, prefix)
    local n = 0
    for _, key in ipairs(dict:get_keys(0)) do
        if str_sub(key, 1, #prefix) == prefix then
            n = n + 1
        end
    end
    return n
end

local function get_status()
    local blocks, rules = state.dicts()
    local ranges, c = access.counts()
    return reply(200, {
        epoch = state.epoch(),
        blocks = count(blocks, state.PREFIX_IP),
        ranges = ranges,
        whitelist = c.whitelist,
        deployments = c.deployments,
        routes = c.routes,
        filter_rules = c.filter_rules,
        rules_version = rules:get(state.KEY_RULES_VERSION) or 0,
        ranges_version = rules:get(state.KEY_RANGES_VERSION) or 0,
        forcible = rules:get(state.KEY_FORCIBLE) or 0,
        checked = checked.total(),
        hostname = ngx_var.hostname,
        challenges = count(blocks, state.PREFIX_CHALLENGE_IP),
        challenge = challenge.status(),
    })
end

local ROUTES = {
    ["/status"] = { GET = get_status },
    ["/blocks"] = { POST = post_blocks },
    ["/rules"] = { PUT = put_rules },
    ["/challenge"] = { PUT = put_challenge },
    ["/whitelist"] = { PUT = put_whitelist },
}

function _M.content()
    if not loopback(ngx_var.remote_addr) and ngx_var.logwarden_control_allow_remote ~= "on" then
        return reply(403, { error = "the control endpoint answers loopback callers only" })
    end
    local secret = ngx_var.logwarden_control_secret
    if not secret or #secret < MIN_SECRET then
        ngx_log(ERR, "logwarden.control: set $logwarden_control_secret (at least ",
            MIN_SECRET, " characters) in the control server block")
        return reply(503, { error = "control secret not configured" })
    end
    local t, nonce, sig = str_match(ngx_var.http_authorization or "", "^LW1 t=(%d+),n=(%x+),sig=(%x+)$")
    local why
    if not t then
        why = "no signature"
    elseif math.abs(ngx_time() - tonumber(t)) > MAX_SKEW then
        why = "signature time off by more than " .. MAX_SKEW .. " s"
    else
        ngx_req.read_body()
        local body = ngx_req.get_body_data() or ""
        local expected = to_hex(hmac_sha1(secret, t .. "\n" .. nonce .. "\n" .. ngx_req.get_method() .. "\n" .. ngx_var.uri .. "\n" .. body))
        if not same_secret(sig, expected) then
            why = "bad signature"
        else
            -- A signature is good once: a captured request cannot be replayed.
            local _, rules = state.dicts()
            local ok, err = rules:add("n:" .. sig, true, NONCE_TTL)
            if not ok and err == "exists" then why = "replayed request" end
        end
    end
    if why then
        -- Never log what was sent: it is derived from a secret.
        ngx_log(WARN, "logwarden.control: refused a caller from ", ngx_var.remote_addr, " (", why, ")")
        return reply(401, { error = "unauthorized", reason = why }, { ["WWW-Authenticate"] = 'LW1 realm="logwarden"' })
    end
    local route = ROUTES[ngx_var.uri]
    if not route then
        return reply(404, { error = "not found" })
    end
    local handler = route[ngx_req.get_method()]
    if not handler then
        local allow = next(route)
        return reply(405, { error = "method not allowed" }, { Allow = allow })
    end
    return handler()
end

return _M
