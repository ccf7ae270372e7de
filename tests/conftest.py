pytest_plugins = ["tests.servers.dns_plugin"]
