"""stream/kernels"""
