"""Reading image files a user points at (hostile ones too): limits, orientation, metadata."""
