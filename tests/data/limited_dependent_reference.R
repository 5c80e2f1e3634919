# Reference values for tests/test_probit.py and tests/test_tobit.py (non-spatial ML
# baselines): R glm(binomial(link = "probit")) and AER::tobit (survreg, left = 0).
# Run from the repository root: Rscript tests/data/limited_dependent_reference.R
library(AER)
d <- read.csv("tests/data/limited_dependent.csv")
p <- glm(y_bin ~ x1 + x2, family = binomial(link = "probit"), data = d)
t <- tobit(y_cens ~ x1 + x2, left = 0, data = d)
sp <- summary(p)$coefficients
st <- summary(t)$coefficients
out <- rbind(
  data.frame(model = "probit", term = rownames(sp), estimate = sp[, 1], std_error = sp[, 2]),
  data.frame(model = "tobit", term = rownames(st), estimate = st[, 1], std_error = st[, 2]),
  data.frame(model = c("probit", "tobit"), term = "loglik",
             estimate = c(as.numeric(logLik(p)), as.numeric(logLik(t))), std_error = NA)
)
write.csv(out, "tests/data/limited_dependent_reference.csv", row.names = FALSE)
