-- logwarden.challenge: the CHALLENGE response. A client that a challenge
-- decision (POST /blocks with "action":"challenge") or a security_filter
-- CHALLENGE rule names gets a small HTML page instead of the content; a
-- browser passes it without interaction, a tool that runs no JavaScript
-- (curl, ffuf, sqlmap) never does.
--
--   pass(addr, by) -> true: go on (the client holds a valid cookie, or has just
--                    proved its work: the cookie is set on this answer); else
--                    the page was served and the request ended
--   set_keys(doc)  -> validates and stores what the enforcer pushes (PUT /challenge)
--   status()       -> { keys = n, difficulty = bits, cookie_ttl = s } for /status
--
-- The round trip (no third-party service, nothing loaded from elsewhere):
--   1. the page carries a token, exp.mac with mac = HMAC-SHA1(key, "p|" addr "|" exp),
--      valid 5 minutes, and the difficulty in bits; its one inline script
--      (challenge.js, allowed by its SHA-256 in the Content-Security-Policy,
--      which allows nothing else) finds a counter n such that SHA-1(token "." n)
--      starts with that many zero bits (2^16 hashes by default, a fraction of a
--      second), stores it in the cookie lw_proof and reloads;
--   2. the reload carries lw_proof: checked (signature, address, expiry, work),
--      it earns the cookie lw_challenge = exp.mac, mac = HMAC-SHA1(key,
--      "c|" addr "|" exp), bound to the client's address and valid cookie_ttl,
--      and the request goes on to the content;
--   3. later requests with that cookie go on at the cost of one HMAC.
-- Keys: the enforcer derives one per rotation period from the node secret and
-- pushes the current and the previous one (shared/challenge-keys.ts); a cookie
-- or token signed with either is accepted, so a rotation does not challenge
-- every client again. Keys live in the shared dict only, are never logged and
-- never reported.
--
-- What the access log learns ($logwarden_challenge): "issued" (page served),
-- "failed" (a proof or a cookie that does not verify: forged, another address's,
-- a stale key's), "passed" (proof verified, cookie set), "valid" (a cookie let
-- the request through), "unavailable" (no keys pushed yet: answered 503).

local cjson = require "cjson.safe"
local state = require "logwarden.state"
local limits = require "logwarden.limits"

local ngx = ngx
local ngx_var = ngx.var
local ngx_header = ngx.header
local ngx_time = ngx.time
local ngx_print = ngx.print
local ngx_exit = ngx.exit
local ngx_log = ngx.log
local ERR = ngx.ERR
local hmac_sha1 = ngx.hmac_sha1
local sha1_bin = ngx.sha1_bin
local str_byte = string.byte
local str_format = string.format
local str_match = string.match
local concat = table.concat
local tonumber = tonumber

local _M = { _VERSION = '0.1.0' }

local C = limits.CHALLENGE
local HTTP_STATUS = C.http_status
local KEY = "k:challenge"
local PROOF_TTL = 300
-- What PUT /challenge takes besides the limits.json settings: a period of
-- floor(unix ms / rotation ms), and a rotation of a minute to a year.
local PERIOD = { min = 1, max = 2 ^ 40 }
local ROTATION_S = { min = 60, max = 31536000 }

-- The page's script, and its hash for the CSP (lua/test/challenge.test.ts
-- checks the two agree, and the browser test that the browser runs it).
local SCRIPT_SHA256 = "fDvvwGbfM9ne/el3TdmxoEclCpl9kGJULo60403mGdU="
local function read_script()
    local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
    local f = assert(io.open(dir .. "/challenge.js", "rb"))
    local s = f:read("*a")
    f:close()
    return s
end
local SCRIPT = read_script()

local CSP = "default-src 'none'; script-src 'sha256-" .. SCRIPT_SHA256
    .. "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

local function to_hex(s)
    local out = {}
    for i = 1, #s do
        out[i] = str_format("%02x", str_byte(s, i))
    end
    return concat(out)
end

local function mac(key, kind, addr, exp)
    return to_hex(hmac_sha1(key, kind .. "|" .. addr .. "|" .. exp))
end

-- The pushed settings, decoded once per change per worker.
local cached_raw, cached

-- Cookies this worker verified (address .. cookie -> expiry), so a returning
-- client costs a table lookup rather than an HMAC. Emptied when the keys
-- change (a cookie of a dropped key must fail again) and when full.
local VERIFIED_MAX = 10000
local verified, verified_n = {}, 0

local function conf()
    local _, dict = state.dicts()
    local raw = dict:get(KEY)
    if raw ~= cached_raw then
        cached_raw, cached = raw, raw and cjson.decode(raw) or nil
        verified, verified_n = {}, 0
    end
    return cached
end

-- Whether `m` is the mac of (kind, addr, exp) under one of the keys. Lua
-- compares strings by their interned identity: no early exit to time.
local function signed(keys, m, kind, addr, exp)
    for i = 1, #keys do
        if mac(keys[i], kind, addr, exp) == m then
            return true
        end
    end
    return false
end

local function leading_zero_bits(s)
    local n = 0
    for i = 1, #s do
        local b = str_byte(s, i)
        if b ~= 0 then
            while b < 128 do
                n = n + 1
                b = b * 2
            end
            return n
        end
        n = n + 8
    end
    return n
end

local function cookie_attrs(max_age)
    return "; Path=/; Max-Age=" .. max_age .. "; HttpOnly; SameSite=Lax"
        .. (ngx_var.scheme == "https" and "; Secure" or "")
end

-- "valid", "failed" or nil (no cookie, or an expired one).
local function check_cookie(c, addr, now)
    local v = ngx_var.cookie_lw_challenge
    if not v then
        return nil
    end
    local known = verified[addr .. v]
    if known then
        return known >= now and "valid" or nil
    end
    local exp, m = str_match(v, "^(%d+)%.(%x+)$")
    exp = tonumber(exp)
    if not exp or not signed(c.keys, m, "c", addr, exp) then
        return "failed"
    end
    if verified_n >= VERIFIED_MAX then
        verified, verified_n = {}, 0
    end
    verified[addr .. v], verified_n = exp, verified_n + 1
    return exp >= now and "valid" or nil
end

-- "passed", "failed" or nil (no proof).
local function check_proof(c, addr, now)
    local v = ngx_var.cookie_lw_proof
    if not v then
        return nil
    end
    local exp, m, n = str_match(v, "^(%d+)%.(%x+)%.(%d+)$")
    exp = tonumber(exp)
    if not exp or exp < now or exp > now + PROOF_TTL or not signed(c.keys, m, "p", addr, exp)
        or leading_zero_bits(sha1_bin(exp .. "." .. m .. "." .. n)) < c.difficulty then
        return "failed"
    end
    return "passed"
end

local PAGE_1 = '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">'
    .. '<meta name="viewport" content="width=device-width"><title>Checking your browser</title></head><body>'
    .. '<p id="lw-challenge" data-token="'
local PAGE_2 = '">Checking your browser before you get to this site. This takes a moment and needs JavaScript.</p>'
    .. '<noscript><p>Please turn JavaScript on and reload.</p></noscript><p><small>Reference: '
local PAGE_3 = '</small></p><script>' .. SCRIPT .. '</script></body></html>\n'

local function serve(c, addr, now, by, outcome)
    ngx_var.logwarden_challenge = outcome
    ngx_var.logwarden_blocked_by = "challenge:" .. by
    ngx.status = HTTP_STATUS
    ngx_header["Content-Type"] = "text/html; charset=utf-8"
    ngx_header["Cache-Control"] = "no-store"
    ngx_header["Content-Security-Policy"] = CSP
    ngx_header["X-Content-Type-Options"] = "nosniff"
    ngx_header["Referrer-Policy"] = "no-referrer"
    local exp = now + PROOF_TTL
    local token = exp .. "." .. mac(c.keys[1], "p", addr, exp)
    -- by is "decision" or "filter:<rule id>" (ids are [A-Za-z0-9_.:-]): nothing to escape.
    ngx_print(PAGE_1, token, '" data-bits="', c.difficulty, PAGE_2, "challenge:", by, PAGE_3)
    return ngx_exit(ngx.HTTP_OK)
end

function _M.pass(addr, by)
    local c = conf()
    if not c then
        ngx_var.logwarden_challenge = "unavailable"
        ngx_var.logwarden_blocked_by = "challenge:" .. by
        ngx_log(ERR, "logwarden.challenge: no challenge keys pushed yet (is the enforcer running?): answering 503")
        ngx.status = 503
        ngx_header["Retry-After"] = "5"
        ngx_header["Content-Type"] = "application/json"
        ngx_print('{"error":"challenge unavailable","blocked_by":"challenge:', by, '"}\n')
        return ngx_exit(ngx.HTTP_OK)
    end
    local now = ngx_time()
    local got = check_cookie(c, addr, now)
    if got == "valid" then
        ngx_var.logwarden_challenge = "valid"
        return true
    end
    local proof = check_proof(c, addr, now)
    if proof == "passed" then
        local exp = now + c.cookie_ttl
        ngx_header["Set-Cookie"] = {
            "lw_challenge=" .. exp .. "." .. mac(c.keys[1], "c", addr, exp) .. cookie_attrs(c.cookie_ttl),
            "lw_proof=" .. cookie_attrs(0),
        }
        ngx_var.logwarden_challenge = "passed"
        return true
    end
    return serve(c, addr, now, by, (got or proof) or "issued")
end

local function in_range(x, r)
    return type(x) == "number" and x % 1 == 0 and x >= r.min and x <= r.max
end

-- The signing key of one rotation period, derived from the node's control
-- secret: every node sharing a secret derives the same key (a cookie earned
-- at one passes at the others), and no key ever crosses the wire.
local function derive(secret, rotation, period)
    return to_hex(hmac_sha1(secret, str_format("logwarden-challenge\n%d\n%d", rotation, period)))
end

-- PUT /challenge: {"period":N, "rotation":seconds, "difficulty":bits, "cookie_ttl":seconds}.
-- The keys of `period` and the one before are derived here from `secret`.
-- Returns true or nil, err, field. Never echoes a key.
function _M.set_keys(doc, secret)
    for k in pairs(doc) do
        if k ~= "period" and k ~= "rotation" and k ~= "difficulty" and k ~= "cookie_ttl" then
            return nil, "unknown key", tostring(k)
        end
    end
    if not in_range(doc.period, PERIOD) then
        return nil, "must be an integer from " .. PERIOD.min .. " to " .. PERIOD.max .. " (floor(now / rotation))", "period"
    end
    if not in_range(doc.rotation, ROTATION_S) then
        return nil, "must be an integer number of seconds from " .. ROTATION_S.min .. " to " .. ROTATION_S.max, "rotation"
    end
    if not in_range(doc.difficulty, C.difficulty_bits) then
        return nil, "must be an integer from " .. C.difficulty_bits.min .. " to " .. C.difficulty_bits.max, "difficulty"
    end
    if not in_range(doc.cookie_ttl, C.cookie_ttl_s) then
        return nil, "must be an integer number of seconds from " .. C.cookie_ttl_s.min .. " to " .. C.cookie_ttl_s.max, "cookie_ttl"
    end
    local keys = { derive(secret, doc.rotation, doc.period), derive(secret, doc.rotation, doc.period - 1) }
    local _, dict = state.dicts()
    local raw = cjson.encode({ keys = keys, period = doc.period, difficulty = doc.difficulty, cookie_ttl = doc.cookie_ttl })
    local ok, err = dict:safe_set(KEY, raw)
    if not ok then
        return nil, "not stored: " .. tostring(err), ""
    end
    return true
end

function _M.status()
    local c = conf()
    if not c then
        return { keys = 0 }
    end
    return { keys = #c.keys, difficulty = c.difficulty, cookie_ttl = c.cookie_ttl }
end

return _M
