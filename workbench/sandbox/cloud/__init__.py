"""The sandbox's OpenStack cloud: Keystone, Nova, Neutron and Glance over aiohttp on loopback."""
