"""stream/readers"""
