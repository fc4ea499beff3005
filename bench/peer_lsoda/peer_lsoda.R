# The compiled-LSODA peer of `bench/run_bench.py --only solver`: R deSolve's lsoda on the right-hand sides in
# models.c (compiled with R CMD SHLIB by the driver, outside any timing), the way a performance-minded R user runs
# a CAR-T model. Sensitivities are forward finite differences (1 + n solves), as such a user computes them.
#
#   Rscript peer_lsoda.R mode=values|time dll=PATH model=cart_cd19_bcma|stein2019|lag_expansion params=p1,p2,...
#           times=t1,... rtols=r1,... atol=a1,... (per state) fd=i1,... (0-based parameter indices) [repeats=N]
#
# values: one solve per rtol; the observables at the times and their finite-difference sensitivities (step
#         sqrt(rtol) relative). time: per rtol, seconds per plain solve (best of 3 rounds of `repeats` solves) and per
#         finite-difference sensitivity set (1 + n solves). Prints one JSON object.
args <- commandArgs(trailingOnly = TRUE)
kv <- strsplit(args, "=", fixed = TRUE)
opt <- setNames(lapply(kv, function(x) paste(x[-1], collapse = "=")), vapply(kv, `[`, "", 1))
num <- function(s) if (is.null(s) || s == "") numeric(0) else as.numeric(strsplit(s, ",", fixed = TRUE)[[1]])
suppressPackageStartupMessages(library(deSolve))
dll <- opt$dll
dyn.load(dll)
dllname <- sub("\\.[^.]*$", "", basename(dll))
model <- opt$model
p0 <- num(opt$params)
times <- num(opt$times)
rtols <- num(opt$rtols)
atol <- num(opt$atol)
fd <- as.integer(num(opt$fd)) + 1L
repeats <- if (is.null(opt$repeats)) 100L else as.integer(opt$repeats)

if (model == "cart_cd19_bcma") {
  initial <- function(p) {
    # p: dose_per_kg, vblood, fblood, ... (cartpk's table order); the dose record at t = 0 enters E
    c(p[3] * p[1] / p[2], 0, 0, 1, p[23], p[23] * p[22], 1, 1, 1, 1, p[32])
  }
  solve <- function(p, rtol) {
    ode(initial(p), times, func = "rhs_m2", parms = p, dllname = dllname, initfunc = "init_m2",
        method = "lsoda", rtol = rtol, atol = atol, maxsteps = 1e6)
  }
  observe <- function(out, p) {
    flow <- out[, 2] + out[, 3] + out[, 4]
    list(flow = flow, qpcr = p[36] * flow, bcell = out[, 7], hb = out[, 12])
  }
} else {
  with_lag <- model == "lag_expansion"
  solve <- function(p, rtol) {
    ev <- if (with_lag && p[8] > 0) c(p[8], p[2]) else p[2]
    grid <- sort(unique(c(times, ev)))
    out <- ode(c(p[3] / p[1], 0), grid, func = "rhs_m1", parms = p, dllname = dllname,
               initfunc = if (with_lag) "init_lag" else "init_stein", method = "lsoda", rtol = rtol, atol = atol,
               maxsteps = 1e6, events = list(func = "event_m1", time = ev))
    kept <- out[match(times, out[, 1]), , drop = FALSE]
    attr(kept, "istate") <- attr(out, "istate")  # subsetting drops deSolve's statistics
    kept
  }
  observe <- function(out, p) {
    q <- out[, 2] + out[, 3]
    list(qpcr = q, flow = q / p[7])
  }
}

vec <- function(v) paste0("[", paste(sprintf("%.17g", v), collapse = ", "), "]")
obs_json <- function(obs) paste0("{", paste(sprintf("\"%s\": %s", names(obs), vapply(obs, vec, "")), collapse = ", "), "}")

levels <- character(0)
for (rtol in rtols) {
  if (opt$mode == "values") {
    out <- solve(p0, rtol)
    obs <- observe(out, p0)
    istate <- attr(out, "istate")
    sens <- list()
    for (name in names(obs)) sens[[name]] <- list()
    for (i in fd) {
      p <- p0
      h <- sqrt(rtol) * abs(p0[i])
      p[i] <- p0[i] + h
      o <- observe(solve(p, rtol), p)
      for (name in names(obs)) sens[[name]][[length(sens[[name]]) + 1]] <- (o[[name]] - obs[[name]]) / h
    }
    sens_json <- paste0("{", paste(sprintf("\"%s\": [%s]", names(sens), vapply(sens, function(cols)
      paste(vapply(cols, vec, ""), collapse = ", "), "")), collapse = ", "), "}")
    levels <- c(levels, sprintf("{\"rtol\": %.6g, \"steps\": %d, \"rhs_evaluations\": %d, \"observables\": %s, \"fd_sensitivities\": %s}",
                                rtol, istate[2], istate[3], obs_json(obs), sens_json))
  } else {
    solve(p0, rtol)  # warm-up
    best <- Inf
    for (round in 1:3) {
      t0 <- proc.time()[["elapsed"]]
      for (r in seq_len(repeats)) solve(p0, rtol)
      best <- min(best, (proc.time()[["elapsed"]] - t0) / repeats)
    }
    best_fd <- Inf
    fd_repeats <- max(1L, repeats %/% (1L + length(fd)))
    for (round in 1:3) {
      t0 <- proc.time()[["elapsed"]]
      for (r in seq_len(fd_repeats)) {
        solve(p0, rtol)
        for (i in fd) {
          p <- p0
          p[i] <- p0[i] + sqrt(rtol) * abs(p0[i])
          solve(p, rtol)
        }
      }
      best_fd <- min(best_fd, (proc.time()[["elapsed"]] - t0) / fd_repeats)
    }
    levels <- c(levels, sprintf("{\"rtol\": %.6g, \"seconds_per_solve\": %.6g, \"seconds_per_fd_sensitivities\": %.6g, \"solves_timed\": %d}",
                                rtol, best, best_fd, 3L * repeats))
  }
}
cat(sprintf("{\"peer\": \"R %s deSolve %s lsoda, compiled C right-hand side\", \"model\": \"%s\", \"levels\": [%s]}\n",
            paste(R.version$major, R.version$minor, sep = "."), as.character(packageVersion("deSolve")), model,
            paste(levels, collapse = ", ")))
