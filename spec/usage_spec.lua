require "spec.helper"
local usage = require "instagram.usage"

describe("instagram.usage", function()
  it("parses the three usage headers into numbers", function()
    local u = usage.parse{
      ["x-app-usage"] = '{"call_count":28,"total_time":25,"total_cputime":25}',
      ["x-business-use-case-usage"] = '{"17841405822304914":[{"type":"instagram","call_count":91,'
        .. '"total_cputime":10,"total_time":12,"estimated_time_to_regain_access":5}]}',
      ["x-ad-account-usage"] = '{"acc_id_util_pct":9.67,"reset_time_duration":0}',
    }
    assert.equal(28, u.app.call_count)
    assert.equal(91, u.business["17841405822304914"][1].call_count)
    assert.equal("instagram", u.business["17841405822304914"][1].type)
    assert.equal(9.67, u.ad_account.acc_id_util_pct)
    assert.equal(91, u.max_percent)
    assert.equal(300, u.regain_access_seconds)
  end)

  it("names in HEADERS the headers parse reads (what the client asks its transport for)", function()
    assert.same({ "x-app-usage", "x-business-use-case-usage", "x-ad-account-usage" }, usage.HEADERS)
    for _, name in ipairs(usage.HEADERS) do
      assert.is_table(usage.parse{ [name] = '{"call_count":1}' }, name)
    end
  end)

  it("returns nil without usage headers and survives garbage", function()
    assert.is_nil(usage.parse{})
    assert.is_nil(usage.parse(nil))
    local u = usage.parse{ ["x-app-usage"] = "not json", ["x-business-use-case-usage"] = "[1,2" }
    assert.same({}, u.app)
    assert.same({}, u.business)
    assert.equal(0, u.max_percent)
  end)
end)
