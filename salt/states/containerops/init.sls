# Every concern of a platform node, in the order they matter.
include:
  - .kernel_modules
  - .sysctl
  - .docker
  - .timesync
  - .users
