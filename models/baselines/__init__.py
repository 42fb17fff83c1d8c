"""The pose baselines of the paper's Table 2, trained on the same data as the embedding:

  base.py               BaselineModel, the train-step contract they share (a dict of losses per batch)
  pose_regressor.py     PoseRegressor: the backbone's image encoder + a 6D rotation head (Mahendran et al.)
  keypoint_geometry.py  KeypointNet's camera geometry: NDC grids, spatial softmax keypoints, (un)projection
  keypoint_losses.py    KeypointNet's losses (consistency, pose, separation, silhouette, variance)
  keypointnet.py        KeypointNet (Suwajanakorn et al.): the dilated CNN and the orientation network
"""
