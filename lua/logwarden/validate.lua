-- logwarden.validate: the checks every document the control endpoint takes
-- is made of (types, keys, lengths, field paths), shared by the rule-set
-- validators (logwarden.filter_validate, logwarden.rules) and the /blocks
-- payload check (logwarden.control).
--
-- Validators return true, or nil, message, field path; a field path is
-- written as the TypeScript validators write it: `a.b[2]["key"]`, with
-- 0-based indexes.
--
-- Documents must come from decode(), not cjson.decode: cjson gives [] and {}
-- as the same empty table, and the TypeScript validators tell them apart
-- ("filter_rules": {} is refused there). decode() marks every empty JSON
-- array with a metatable, so is_array and is_object answer as JavaScript
-- would.

-- Validation runs on the control listener, not per request: no locals
-- cached for speed here.
local cjson = require "cjson.safe"

local str_find, str_byte, str_sub = string.find, string.byte, string.sub
local null = cjson.null

local _M = { _VERSION = '0.1.0' }

-- The metatable of an empty JSON array (decode).
local EMPTY_ARRAY = {}
_M.EMPTY_ARRAY = EMPTY_ARRAY

-- Rewrites every empty array outside strings ("[ ]") as a one-element array
-- holding `marker`, for cjson to decode; nil when there is none.
local function mark_empty_arrays(text, marker)
    if not str_find(text, "%[[ \t\n\r]*%]") then
        return nil
    end
    local out, n, last, i = {}, 0, 1, 1
    local replaced = false
    while true do
        i = str_find(text, '["%[]', i)
        if not i then
            break
        end
        if str_byte(text, i) == 34 then
            -- Skip the string: to its closing quote, past escaped characters.
            i = i + 1
            while true do
                local q = str_find(text, '["\\]', i)
                if not q then
                    return nil -- unterminated: cjson refuses the text anyway
                end
                if str_byte(text, q) == 92 then
                    i = q + 2
                else
                    i = q + 1
                    break
                end
            end
        else
            local j = str_find(text, "[^ \t\n\r]", i + 1)
            if j and str_byte(text, j) == 93 then
                out[n + 1], out[n + 2] = str_sub(text, last, i - 1), marker
                n = n + 2
                last = j + 1
                replaced = true
                i = j + 1
            else
                i = i + 1
            end
        end
    end
    if not replaced then
        return nil
    end
    out[n + 1] = str_sub(text, last)
    return table.concat(out)
end

local function unmark(t, marker)
    for k, x in pairs(t) do
        if type(x) == "table" then
            if x[1] == marker and #x == 1 then
                t[k] = setmetatable({}, EMPTY_ARRAY)
            else
                unmark(x, marker)
            end
        end
    end
end

-- cjson.decode, with empty arrays told apart from empty objects (see the
-- top). Returns the value, or nil, err.
function _M.decode(text)
    -- A marker no document can hold by chance: it names this call.
    local marker
    repeat
        marker = string.format("logwarden:empty-array:%d", math.random(0, 0x7fffffff))
    until not str_find(text, marker, 1, true)
    local marked = mark_empty_arrays(text, '["' .. marker .. '"]')
    local doc, err = cjson.decode(marked or text)
    if doc == nil or not marked or type(doc) ~= "table" then
        return doc, err
    end
    if doc[1] == marker and #doc == 1 then
        return setmetatable({}, EMPTY_ARRAY)
    end
    unmark(doc, marker)
    return doc
end

-- A table whose keys are exactly 1..n (an empty one only from an empty
-- JSON array).
local function is_array(t)
    if type(t) ~= "table" then
        return false
    end
    if next(t) == nil then
        return getmetatable(t) == EMPTY_ARRAY
    end
    local n = #t
    for k in pairs(t) do
        if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
            return false
        end
    end
    return true
end
_M.is_array = is_array

function _M.is_object(t)
    return type(t) == "table" and getmetatable(t) ~= EMPTY_ARRAY and (next(t) == nil or not is_array(t))
end

-- nil, or JSON null.
function _M.absent(x)
    return x == nil or x == null
end

function _M.at(path, key)
    return path == "" and key or path .. "." .. key
end

-- Lua index i (1-based) as the document's 0-based index.
function _M.item(path, i)
    return path .. "[" .. (i - 1) .. "]"
end

function _M.entry(path, key)
    return path .. "[" .. (cjson.encode(key) or '""') .. "]"
end

-- Counts UTF-8 code points (bytes that are not continuation bytes): the
-- TypeScript validators count characters, not bytes.
function _M.chars(s)
    local _, cont = string.gsub(s, "[\128-\191]", "")
    return #s - cont
end

-- { "a", "b" } -> { a = true, b = true }
function _M.set_of(list)
    local s = {}
    for _, v in ipairs(list) do
        s[v] = true
    end
    return s
end

-- Every key of t is one of `allowed` (a set_of).
function _M.keys_in(t, allowed, path)
    for k in pairs(t) do
        if type(k) ~= "string" or not allowed[k] then
            return nil, "unknown key", _M.at(path, tostring(k))
        end
    end
    return true
end

-- An object whose every key is one of `allowed` (a set_of).
function _M.object_with(x, allowed, path)
    if not _M.is_object(x) then
        return nil, "must be an object", path
    end
    return _M.keys_in(x, allowed, path)
end

-- An array of min..max items.
function _M.array(x, path, min, max)
    if not is_array(x) then
        return nil, "must be an array", path
    end
    if #x < min then
        return nil, "must not be empty", path
    end
    if #x > max then
        return nil, "must have at most " .. max .. " items", path
    end
    return true
end

return _M
