-- logwarden.health: answers a health probe from inside nginx.
--
-- A 200 here proves what a plain `return 200` cannot: the Lua module runs,
-- resty.core and cjson load, and the http snippet's shared dicts exist. The
-- versions in the body are what an operator pastes into a bug report.
--
--     location = /__logwarden/health {
--         allow 127.0.0.1; deny all;
--         content_by_lua_block { require("logwarden.health").content() }
--     }

local cjson = require "cjson.safe"

local ngx = ngx
local ngx_say = ngx.say
local ngx_shared = ngx.shared
local encode = cjson.encode

local _M = { _VERSION = '0.1.0' }

-- Shared dicts declared by conf/logwarden-http.conf.
local DICTS = { "logwarden_blocks", "logwarden_state", "logwarden_limits" }

-- Built once per worker: none of it changes while the worker lives.
local static = {
    module = "logwarden",
    version = _M._VERSION,
    lua = jit and jit.version or _VERSION,
    ngx_lua = ngx.config.ngx_lua_version,
    nginx = ngx.config.nginx_version,
}

function _M.status()
    local missing = {}
    for _, name in ipairs(DICTS) do
        if not ngx_shared[name] then
            missing[#missing + 1] = name
        end
    end
    local body = {
        ok = #missing == 0,
        worker = ngx.worker.id(),
    }
    for k, v in pairs(static) do
        body[k] = v
    end
    if #missing > 0 then
        body.missing_dicts = missing
    end
    return body
end

function _M.content()
    local body = _M.status()
    local json, err = encode(body)
    if not json then
        ngx.log(ngx.ERR, "logwarden.health: cannot encode status: ", err)
        return ngx.exit(500)
    end
    ngx.status = body.ok and 200 or 503
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store"
    ngx_say(json)
end

return _M
