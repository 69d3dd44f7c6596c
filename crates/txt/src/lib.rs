//! Intel TXT and tboot: SINIT ACMs, the MLE, tboot policies, and prediction
//! of the DRTM PCRs (17, 18, 19) a measured launch will produce.
