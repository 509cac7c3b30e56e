"""WeCom (企业微信) self-built application channel: callback crypto, API client, group robot."""
