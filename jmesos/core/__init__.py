"""The pure core of jmesos: resources, the protocol, the event log, the master and the allocator.

Nothing here opens sockets, starts threads, sleeps or reads the wall clock, and
nothing here imports IPython, ipywidgets or plotly.
"""
