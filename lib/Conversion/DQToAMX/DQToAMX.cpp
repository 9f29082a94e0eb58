//===- DQToAMX.cpp - the convert-dq-to-amx pass ------===//

#include "lib/Conversion/DQToAMX/DQToAMX.h"
#include "lib/Dialect/DQ/IR/DQOps.h"
#include "lib/Dialect/X86/IR/X86Dialect.h"

#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::dq {
#define GEN_PASS_DEF_CONVERTDQTOAMX
#include "lib/Conversion/DQToAMX/DQToAMX.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {
struct ConvertDQToAMX : dq::impl::ConvertDQToAMXBase<ConvertDQToAMX> {
  using Base::Base;

  void runOnOperation() override {
    // row-tiles 0 picks up to kMaxAutoRowTiles per layer.
    int64_t maxRows = rowTiles ? rowTiles : dq::kMaxAutoRowTiles;
    if (rowTiles < 0 || colTiles < 1 || vnniBelow < 0 || threads < 1 ||
        rowsPerThread < 0 || rowsBelowBytes < 0 ||
        !dq::amxBlockFits(maxRows, colTiles)) {
      emitError(getOperation()->getLoc(),
                "convert-dq-to-amx: needs col-tiles, threads >= 1, row-tiles, "
                "vnni-below, rows-per-thread, rows-below-bytes >= 0 and "
                "row-tiles * col-tiles + min(row-tiles, col-tiles) + 1 <= 8 "
                "(tile registers)");
      return signalPassFailure();
    }
    dq::ConvertDQToAMXOptions options;
    options.rowTiles = rowTiles;
    options.colTiles = colTiles;
    options.vnniBelow = vnniBelow;
    options.threads = threads;
    options.rowsPerThread = rowsPerThread;
    options.rowsBelowBytes = rowsBelowBytes;
    RewritePatternSet patterns(&getContext());
    dq::populateLinearToAMXPatterns(patterns, options);
    // Non-constant weights stay for convert-dq-to-linalg; one walk suffices.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
