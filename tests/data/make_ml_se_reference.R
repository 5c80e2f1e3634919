# Reference ML fits for tests/test_ml_se_reference.py (R spatialreg, analytic standard errors).
#
# Reads tests/data/ml_se_reference_<n>_data.csv (x1, x2, y_lag, y_err) and
# tests/data/ml_se_reference_<n>_neighbours.csv (the 8 neighbours of each row, 1-based),
# both written by `python tests/test_ml_se_reference.py <n>`, builds the row-standardised
# knn:8 listw from exactly those neighbours and writes tests/data/ml_se_reference_<n>.json.
#
# Fits: lagsarlm(method = "eigen"), errorsarlm(method = "eigen") and the spatial Durbin
# model lagsarlm(Durbin = TRUE, method = "eigen"). With method = "eigen" spatialreg's
# standard errors come from the analytic (asymptotic) information matrix, traces computed
# densely; tol.opt is tightened so the estimate of rho/lambda is not the limiting error.
#
# Run from the repository root:  Rscript tests/data/make_ml_se_reference.R [n]
# (Debian: apt-get install r-cran-spatialreg r-cran-spdep r-cran-jsonlite)

suppressPackageStartupMessages({
  library(spdep)
  library(spatialreg)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
n_arg <- if (length(args)) as.integer(args[1]) else 4000L
stem <- file.path("tests", "data", sprintf("ml_se_reference_%d", n_arg))

dat <- read.csv(paste0(stem, "_data.csv"))
nbm <- as.matrix(read.csv(paste0(stem, "_neighbours.csv")))
n <- nrow(dat)
stopifnot(n == n_arg, nrow(nbm) == n)

nb <- lapply(seq_len(n), function(i) as.integer(sort(nbm[i, ])))
class(nb) <- "nb"
attr(nb, "region.id") <- as.character(seq_len(n))
attr(nb, "call") <- NULL
attr(nb, "sym") <- FALSE
lw <- nb2listw(nb, style = "W")

# the eigenvalues of W once for the three fits (spatialreg's pre_eig control)
t_eig <- proc.time()[["elapsed"]]
eigs <- eigenw(lw)
t_eig <- proc.time()[["elapsed"]] - t_eig
ctrl <- list(tol.opt = .Machine$double.eps^0.75, pre_eig = eigs)

t0 <- proc.time()[["elapsed"]]
lag <- lagsarlm(y_lag ~ x1 + x2, data = dat, listw = lw, method = "eigen", control = ctrl)
err <- errorsarlm(y_err ~ x1 + x2, data = dat, listw = lw, method = "eigen", control = ctrl)
sdm <- lagsarlm(y_lag ~ x1 + x2, data = dat, listw = lw, method = "eigen", Durbin = TRUE,
                control = ctrl)
seconds <- proc.time()[["elapsed"]] - t0

pack <- function(fit, spatial) {
  value <- unname(if (spatial == "rho") fit$rho else fit$lambda)
  se <- unname(if (spatial == "rho") fit$rho.se else fit$lambda.se)
  out <- list(
    n = n,
    names = names(fit$coefficients),
    coef = unname(fit$coefficients),
    se = unname(fit$rest.se),
    loglik = as.numeric(fit$LL),
    sigma2 = unname(fit$s2),
    ase = isTRUE(fit$ase)
  )
  out[[spatial]] <- value
  out[[paste0(spatial, "_se")]] <- se
  out
}

result <- list(
  source = paste0(
    "R ", R.version$major, ".", R.version$minor, ", spatialreg ",
    as.character(packageVersion("spatialreg")), ", spdep ",
    as.character(packageVersion("spdep")),
    "; method = 'eigen', analytic information-matrix standard errors, tol.opt = eps^0.75"
  ),
  weights = "knn:8 from the neighbours CSV, nb2listw(style = 'W')",
  seconds_eigenvalues = t_eig,
  seconds_fits = seconds,
  lag = pack(lag, "rho"),
  error = pack(err, "lambda"),
  durbin = pack(sdm, "rho")
)
writeLines(toJSON(result, digits = I(17), auto_unbox = TRUE, pretty = TRUE),
           paste0(stem, ".json"))
cat("wrote", paste0(stem, ".json"), "in", round(seconds, 1), "s\n")
