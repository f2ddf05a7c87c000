"""Aggregate analytics, off by default: tracked links and the open pixel made and checked
(`links`, pure: values in, values out). The redirect and the counters are the web's and the
store's. May import only the shared modules.
"""
