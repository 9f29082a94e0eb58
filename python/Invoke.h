//===- Invoke.h - call a compiled function on torch tensors -----*- C++ -*-===//
#ifndef DQMLIR_PYTHON_INVOKE_H
#define DQMLIR_PYTHON_INVOKE_H

#include <nanobind/nanobind.h>

namespace dqmlir::python {
/// Adds `Invoker` to the extension module.
void populateInvoke(nanobind::module_ &m);
} // namespace dqmlir::python

#endif // DQMLIR_PYTHON_INVOKE_H
