-- The HTTP Basic authentication scenarios of test/auth_spec.lua against a
-- real Apache Mesos 1.11 master started with --authenticate_http_frameworks,
-- --http_framework_authenticators=basic and --credentials.
local real = require "test.realmesos"

require "test.scenarios.auth" {
  name = "real Mesos 1.11",
  start = function(credentials)
    return real.start { env = {
      MESOS_AUTHENTICATE_HTTP_FRAMEWORKS = "true",
      MESOS_HTTP_FRAMEWORK_AUTHENTICATORS = "basic",
      MESOS_CREDENTIALS = credentials,
    } }
  end,
}
