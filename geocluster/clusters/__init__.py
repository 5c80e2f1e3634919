"""Cluster detection: areal (LISA, Gi*) and point-pattern (KDE, density clusters, K-density).

One family of statistics per module; the shared engines are private modules with public
names (documented internal API):

========================  ===========================================================
module                    holds
========================  ===========================================================
``lisa``                  :func:`local_moran`, :func:`global_moran`,
                          :class:`GlobalMoranResult`
``regions``               :func:`cluster_regions` (dissolved LISA regions), region labels
``lisa_plots``            :func:`plot_moran_scatter`, :func:`plot_lisa_map`
``hotspots``              :func:`getis_ord`, :func:`plot_hotspot_map`
``kde``                   :func:`kde` and the bandwidth, kernel and grid helpers that
                          :func:`density_clusters` and :func:`geocluster.exposure` share
``surface``               :class:`DensitySurface` (the result of :func:`kde`)
``density``               :func:`density_clusters`, ``label_points``
``localization``          :func:`k_density`, :class:`KDensityResult`
``colocalization``        :func:`k_density_pair` (Duranton-Overman for pairs of industries)
``bivariate``             :func:`local_moran_bv` (bivariate local Moran)
``geary``                 :func:`local_geary` (univariate and multivariate local Geary)
``joincounts``            :func:`local_join_counts`, :func:`join_counts`,
                          :class:`JoinCountResult`
``local_plots``           figures of the bivariate Moran, local Geary and join counts
``concentration``         :func:`ellison_glaeser`, :func:`coagglomeration` (EG 1997)
``mfunction``             :func:`m_function` (Marcon-Puech M, intertype M)
``colocation``            :func:`colocation_quotient`, :func:`local_colocation_quotient`
``hdbscan``               :func:`hdbscan_clusters`, :class:`HDBSCANResult` (density-based
                          firm clusters, scikit-learn's HDBSCAN)
``_inference``            options, isolates/missing policies, p-value conventions and
                          multiple-testing cut-offs of the areal statistics
``_permutation``          the tie-aware conditional permutation engine
``_kde``                  binned KDE, kernels, bandwidth rules, leave-one-out density
``_pairs``                blocked pair distances, the K-density smoother and the shared
                          pointwise/global envelope bands
========================  ===========================================================
"""
