# The dq extension (_dqmlir) is built here by CMake (see python/CMakeLists.txt).
