# The Docker engine: package (and repository where one is needed), daemon.json
# and its companions, the engine kept enabled and running.
include:
  - .repo
  - .package
  - .config
  - .service
