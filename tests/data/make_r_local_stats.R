# Reference values for tests/test_bivariate.py, tests/test_geary.py and tests/test_joincounts.py
# (R spdep: bivariate local Moran, local Geary, local and global join counts).
#
# Two data sets:
#   columbus : data/columbus_spData.gpkg, queen contiguity from the polygons (poly2nb);
#   points   : 120 points generated here (set.seed(16)) in a 10 km square, k = 6 nearest
#              neighbours (knearneigh, asymmetric), written to
#              tests/data/r_local_stats_points.csv with the variables analysed.
# For each: the neighbour lists (1-based), localmoran_bv (Ibvi; folded Sim p-values),
# localC (univariate and multivariate; localC_perm folded Sim p-values), local_joincount_uni
# (BB), local_joincount_bv (co-location and bivariate cases), joincount.test (non-free and
# free sampling) and joincount.multi (BB, WW, BW, Jtot), joincount.mc.
# Continuous weights are row-standardised (style "W"), join counts binary (style "B").
# The permutation p-values of spdep draw neighbours with replacement and rank ties with
# rank(); they are kept for a Monte Carlo comparison only.
#
# Run from the repository root:  Rscript tests/data/make_r_local_stats.R
# Writes tests/data/r_local_stats_columbus.json and tests/data/r_local_stats_points.json.

suppressPackageStartupMessages({
  library(spdep)
  library(sf)
  library(jsonlite)
})

nsim <- 9999L

nb_list <- function(nb) lapply(seq_along(nb), function(i) as.integer(nb[[i]][nb[[i]] > 0]))

references <- function(dat, nb, xname, yname, zname, b1name, b2name) {
  lw <- nb2listw(nb, style = "W")
  lb <- nb2listw(nb, style = "B")
  x <- dat[[xname]]; y <- dat[[yname]]; z <- dat[[zname]]
  b1 <- as.integer(dat[[b1name]]); b2 <- as.integer(dat[[b2name]])
  out <- list(neighbours = nb_list(nb), n = length(nb))

  set.seed(1)
  bv <- localmoran_bv(x, y, lw, nsim = nsim, iseed = 1L)
  out$localmoran_bv <- list(x = xname, y = yname, Ibvi = as.numeric(bv[, "Ibvi"]),
                            p_folded_sim = as.numeric(bv[, "Pr(folded) Sim"]))

  c1 <- localC(x, lw)
  cp1 <- localC_perm(x, lw, nsim = nsim, iseed = 1L)
  out$localC_uni <- list(column = xname, Ci = as.numeric(c1),
                         E_sim = as.numeric(attr(cp1, "pseudo-p")[, "E.Ci"]),
                         p_folded_sim = as.numeric(attr(cp1, "pseudo-p")[, "Pr(folded) Sim"]))
  mv <- cbind(x, y, z)
  cm <- localC(mv, lw)
  set.seed(1)
  cpm <- localC_perm(mv, lw, nsim = nsim)
  out$localC_mv <- list(columns = c(xname, yname, zname), Ci = as.numeric(cm),
                        p_folded_sim = as.numeric(attr(cpm, "pseudo-p")[, "Pr(folded) Sim"]))

  fx <- factor(b1, levels = c(0L, 1L))
  jcu <- local_joincount_uni(fx, chosen = "1", lb, alternative = "greater", nsim = nsim,
                             iseed = 1L)
  out$local_joincount_uni <- list(column = b1name, BB = as.numeric(jcu[, 1]),
                                  p_sim = as.numeric(jcu[, 2]))
  set.seed(1)
  clc <- local_joincount_bv(b1, b2, lb, nsim = 99)
  out$local_joincount_clc <- list(x = b1name, z = b2name, join_count = as.numeric(clc$join_count))
  set.seed(1)
  bjc <- local_joincount_bv(b1, 1L - b1, lb, nsim = 99)
  out$local_joincount_bjc <- list(x = b1name, z = paste0("1 - ", b1name),
                                  join_count = as.numeric(bjc$join_count))

  jt <- function(sampling) {
    r <- joincount.test(fx, lb, sampling = sampling, alternative = "greater")
    lapply(r, function(h) list(statistic = unname(h$estimate[1]),
                               expected = unname(h$estimate[2]),
                               variance = unname(h$estimate[3]),
                               z = unname(h$statistic), p_greater = h$p.value))
  }
  out$joincount_test_nonfree <- setNames(jt("nonfree"), c("WW", "BB"))
  out$joincount_test_free <- setNames(jt("free"), c("WW", "BB"))
  jm <- joincount.multi(fx, lb)
  out$joincount_multi <- list(rows = rownames(jm), joincount = as.numeric(jm[, 1]),
                              expected = as.numeric(jm[, 2]), variance = as.numeric(jm[, 3]),
                              z = as.numeric(jm[, 4]))
  set.seed(1)
  mc <- joincount.mc(fx, lb, nsim = nsim, alternative = "greater")
  out$joincount_mc <- list(WW_p = mc[[1]]$p.value, BB_p = mc[[2]]$p.value, nsim = nsim)
  out
}

# ------------------------------------------------------------------ Columbus
col <- st_read("data/columbus_spData.gpkg", quiet = TRUE)
col$HI_CRIME <- as.integer(col$CRIME > quantile(col$CRIME, 0.6))
col$LOW_INC <- as.integer(col$INC < quantile(col$INC, 0.4))
nb_col <- poly2nb(col, queen = TRUE)
ref_col <- references(col, nb_col, "CRIME", "INC", "HOVAL", "HI_CRIME", "LOW_INC")
ref_col$dataset <- "data/columbus_spData.gpkg, poly2nb(queen = TRUE)"
ref_col$binary <- list(HI_CRIME = col$HI_CRIME, LOW_INC = col$LOW_INC,
                       rule = "HI_CRIME = CRIME > quantile(CRIME, 0.6); LOW_INC = INC < quantile(INC, 0.4) (R type 7)")
ref_col$spdep <- as.character(packageVersion("spdep"))
write_json(ref_col, "tests/data/r_local_stats_columbus.json", digits = NA, auto_unbox = TRUE,
           pretty = FALSE)

# ------------------------------------------------------------------ generated points
set.seed(16)
n <- 120L
px <- runif(n, 0, 10000); py <- runif(n, 0, 10000)
trend <- (px + py) / 10000
a <- round(trend + rnorm(n, 0, 0.5), 6)
b <- round(0.5 * a + rnorm(n, 0, 0.7), 6)
cc <- round(rnorm(n), 6)
b1 <- as.integer(a > quantile(a, 0.65))
b2 <- as.integer(b > quantile(b, 0.6))
pts <- data.frame(id = sprintf("p%03d", seq_len(n)), x = round(px, 3), y = round(py, 3),
                  a = a, b = b, c = cc, b1 = b1, b2 = b2)
write.csv(pts, "tests/data/r_local_stats_points.csv", row.names = FALSE, quote = FALSE)
pts <- read.csv("tests/data/r_local_stats_points.csv")  # the rounded values, as Python reads them
nb_pts <- knn2nb(knearneigh(cbind(pts$x, pts$y), k = 6))
ref_pts <- references(pts, nb_pts, "a", "b", "c", "b1", "b2")
ref_pts$dataset <- "tests/data/r_local_stats_points.csv, knn2nb(knearneigh(k = 6))"
ref_pts$spdep <- as.character(packageVersion("spdep"))
write_json(ref_pts, "tests/data/r_local_stats_points.json", digits = NA, auto_unbox = TRUE,
           pretty = FALSE)
