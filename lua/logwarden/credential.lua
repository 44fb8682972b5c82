-- logwarden.credential: verifies a protected route's credentials against the
-- salted hash the NodeRules document carries (shared/credential-hash.ts makes
-- them), so nothing on the node holds a password or token in clear text.
--
--   pbkdf2-sha1$<iterations>$<salt, base64>$<derived key, base64>
--
-- PBKDF2-HMAC-SHA1 with one 20-byte block, built from ngx.hmac_sha1 (the only
-- keyed hash Debian's nginx-lua has without lua-resty-string). The XOR of the
-- iterations runs on five 32-bit words through the FFI, so an iteration costs
-- little more than its HMAC: 2.3-3.4 µs measured, 0.3-0.45 ms for the
-- default 128 (see shared/credential-hash.ts for why that count). Callers
-- cache successes per worker; a failed check always pays the full count.

local ffi = require "ffi"
local bit = require "bit"

local hmac_sha1 = ngx.hmac_sha1
local decode_base64 = ngx.decode_base64
local ffi_cast = ffi.cast
local ffi_copy = ffi.copy
local ffi_string = ffi.string
local bxor = bit.bxor
local bor = bit.bor
local str_byte = string.byte
local str_match = string.match

local _M = { _VERSION = '0.1.0', MAX_ITERATIONS = 100000 }

local u32p = ffi.typeof("const uint32_t *")
local acc = ffi.new("uint32_t[5]")

-- Parses a hash string. Returns { iterations, salt, key } or nil, "reason".
function _M.parse(s)
    if type(s) ~= "string" or #s > 256 then
        return nil, "not a credential hash"
    end
    local iter, salt64, key64 = str_match(s, "^pbkdf2%-sha1%$([1-9]%d*)%$([A-Za-z0-9+/]+=?=?)%$([A-Za-z0-9+/]+=?=?)$")
    if not iter then
        return nil, "not a pbkdf2-sha1$<iterations>$<salt>$<key> credential hash"
    end
    local n = tonumber(iter)
    if #iter > 6 or n > _M.MAX_ITERATIONS then
        return nil, "more than " .. _M.MAX_ITERATIONS .. " iterations"
    end
    local salt, key = decode_base64(salt64), decode_base64(key64)
    if not salt or #salt < 8 or #salt > 64 then
        return nil, "the salt must be 8 to 64 bytes of base64"
    end
    if not key or #key ~= 20 then
        return nil, "the key must be 20 bytes of base64"
    end
    return { iterations = n, salt = salt, key = key }
end

local function pbkdf2_sha1(secret, salt, iterations)
    local u = hmac_sha1(secret, salt .. "\0\0\0\1")
    ffi_copy(acc, u, 20)
    for _ = 2, iterations do
        u = hmac_sha1(secret, u)
        local w = ffi_cast(u32p, u)
        acc[0] = bxor(acc[0], w[0])
        acc[1] = bxor(acc[1], w[1])
        acc[2] = bxor(acc[2], w[2])
        acc[3] = bxor(acc[3], w[3])
        acc[4] = bxor(acc[4], w[4])
    end
    return ffi_string(acc, 20)
end
_M.pbkdf2_sha1 = pbkdf2_sha1

-- True when `secret` hashes to the parsed hash `h`. Compares every byte
-- whatever the first difference (constant time in the secret).
function _M.verify(secret, h)
    local got = pbkdf2_sha1(secret, h.salt, h.iterations)
    local want = h.key
    local diff = 0
    for i = 1, 20 do
        diff = bor(diff, bxor(str_byte(got, i), str_byte(want, i)))
    end
    return diff == 0
end

return _M
