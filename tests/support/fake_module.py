"""A stand-in for AnsibleModule where a test drives a module's entry point directly: the parameters,
check mode, and the warnings the run gave."""


class FakeModule:
    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)
