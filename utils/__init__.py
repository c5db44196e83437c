"""Reference implementations, data and checks shared by the labs.

Submodules are imported where they are used (`from utils.layers import lstm_forward`), so that
`import utils` stays cheap and never imports torch unless a lab asks for it.
"""
