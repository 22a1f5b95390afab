"""jobstores"""
